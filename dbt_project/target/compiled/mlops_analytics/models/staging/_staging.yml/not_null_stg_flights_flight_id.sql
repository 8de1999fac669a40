
    
    



select flight_id
from "warehouse"."staging"."stg_flights"
where flight_id is null


