
    
    



select date
from "warehouse"."staging"."stg_flights"
where date is null


