
    
    



select spec
from "warehouse"."marts"."fct_model_daily_performance"
where spec is null


