
    
    



select date
from "warehouse"."staging"."stg_monitoring_reports"
where date is null


