
    
    



select flight_id
from "warehouse"."staging"."stg_flight_features"
where flight_id is null


