
    
    



select spec
from "warehouse"."marts"."fct_drift_history"
where spec is null


