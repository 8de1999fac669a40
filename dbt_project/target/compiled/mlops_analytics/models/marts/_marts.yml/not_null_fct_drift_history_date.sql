
    
    



select date
from "warehouse"."marts"."fct_drift_history"
where date is null


