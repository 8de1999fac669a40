
    
    



select feature
from "warehouse"."marts"."fct_drift_history"
where feature is null


