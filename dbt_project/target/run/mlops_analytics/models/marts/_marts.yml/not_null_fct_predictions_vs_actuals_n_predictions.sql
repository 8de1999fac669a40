
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select n_predictions
from "warehouse"."marts"."fct_predictions_vs_actuals"
where n_predictions is null



  
  
      
    ) dbt_internal_test