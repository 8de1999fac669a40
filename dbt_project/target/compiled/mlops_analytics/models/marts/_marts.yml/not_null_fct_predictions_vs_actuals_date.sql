
    
    



select date
from "warehouse"."marts"."fct_predictions_vs_actuals"
where date is null


