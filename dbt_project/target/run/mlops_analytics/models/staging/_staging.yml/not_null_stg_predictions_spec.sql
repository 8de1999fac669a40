
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select spec
from "warehouse"."staging"."stg_predictions"
where spec is null



  
  
      
    ) dbt_internal_test