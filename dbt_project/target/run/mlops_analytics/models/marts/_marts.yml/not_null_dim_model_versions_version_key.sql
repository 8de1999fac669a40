
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select version_key
from "warehouse"."marts"."dim_model_versions"
where version_key is null



  
  
      
    ) dbt_internal_test