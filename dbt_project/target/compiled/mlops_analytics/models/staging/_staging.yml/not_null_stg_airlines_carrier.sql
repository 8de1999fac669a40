
    
    



select carrier
from "warehouse"."staging"."stg_airlines"
where carrier is null


