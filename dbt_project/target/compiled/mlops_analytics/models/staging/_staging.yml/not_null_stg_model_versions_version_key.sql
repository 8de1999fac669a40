
    
    



select version_key
from "warehouse"."staging"."stg_model_versions"
where version_key is null


