
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select date
from "warehouse"."marts"."fct_predictions_vs_actuals"
where date is null



  
  
      
    ) dbt_internal_test