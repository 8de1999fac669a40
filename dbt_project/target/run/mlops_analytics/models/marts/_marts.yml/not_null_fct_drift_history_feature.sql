
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select feature
from "warehouse"."marts"."fct_drift_history"
where feature is null



  
  
      
    ) dbt_internal_test