
    
    



select version_key
from "warehouse"."marts"."dim_model_versions"
where version_key is null


