
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select model_version
from "warehouse"."staging"."stg_predictions"
where model_version is null



  
  
      
    ) dbt_internal_test