
    
    



select metric
from "warehouse"."marts"."fct_drift_history"
where metric is null


