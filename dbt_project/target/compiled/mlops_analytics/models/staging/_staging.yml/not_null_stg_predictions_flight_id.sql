
    
    



select flight_id
from "warehouse"."staging"."stg_predictions"
where flight_id is null


