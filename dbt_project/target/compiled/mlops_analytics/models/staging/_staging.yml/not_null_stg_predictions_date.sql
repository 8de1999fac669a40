
    
    



select date
from "warehouse"."staging"."stg_predictions"
where date is null


