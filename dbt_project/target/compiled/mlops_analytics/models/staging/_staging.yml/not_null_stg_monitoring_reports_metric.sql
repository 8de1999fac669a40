
    
    



select metric
from "warehouse"."staging"."stg_monitoring_reports"
where metric is null


