
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select spec
from "warehouse"."marts"."fct_drift_history"
where spec is null



  
  
      
    ) dbt_internal_test