
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
select date, spec, feature, metric, count(*) as rows_with_this_key
from "warehouse"."marts"."fct_drift_history"
group by date, spec, feature, metric
having count(*) > 1

  
  
      
    ) dbt_internal_test