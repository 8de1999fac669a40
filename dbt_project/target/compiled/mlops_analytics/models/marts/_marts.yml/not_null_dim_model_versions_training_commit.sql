
    
    



select training_commit
from "warehouse"."marts"."dim_model_versions"
where training_commit is null


