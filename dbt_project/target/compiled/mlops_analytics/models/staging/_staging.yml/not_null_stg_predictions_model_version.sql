
    
    



select model_version
from "warehouse"."staging"."stg_predictions"
where model_version is null


