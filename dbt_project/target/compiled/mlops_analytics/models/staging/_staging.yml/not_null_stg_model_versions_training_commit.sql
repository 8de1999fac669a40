
    
    



select training_commit
from "warehouse"."staging"."stg_model_versions"
where training_commit is null


