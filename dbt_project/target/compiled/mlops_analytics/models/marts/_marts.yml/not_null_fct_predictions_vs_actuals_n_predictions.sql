
    
    



select n_predictions
from "warehouse"."marts"."fct_predictions_vs_actuals"
where n_predictions is null


