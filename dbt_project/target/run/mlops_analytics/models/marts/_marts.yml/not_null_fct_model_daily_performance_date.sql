
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select date
from "warehouse"."marts"."fct_model_daily_performance"
where date is null



  
  
      
    ) dbt_internal_test