
    
    



select date
from "warehouse"."marts"."fct_model_daily_performance"
where date is null


