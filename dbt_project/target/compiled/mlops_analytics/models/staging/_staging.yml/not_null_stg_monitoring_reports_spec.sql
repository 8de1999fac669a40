
    
    



select spec
from "warehouse"."staging"."stg_monitoring_reports"
where spec is null


