
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select metric
from "warehouse"."marts"."fct_drift_history"
where metric is null



  
  
      
    ) dbt_internal_test