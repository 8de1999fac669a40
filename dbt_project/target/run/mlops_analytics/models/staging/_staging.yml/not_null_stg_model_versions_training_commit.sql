
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select training_commit
from "warehouse"."staging"."stg_model_versions"
where training_commit is null



  
  
      
    ) dbt_internal_test