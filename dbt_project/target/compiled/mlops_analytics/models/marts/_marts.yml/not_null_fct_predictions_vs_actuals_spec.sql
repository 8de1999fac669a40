
    
    



select spec
from "warehouse"."marts"."fct_predictions_vs_actuals"
where spec is null


