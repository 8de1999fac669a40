
    
    



select spec
from "warehouse"."staging"."stg_predictions"
where spec is null


