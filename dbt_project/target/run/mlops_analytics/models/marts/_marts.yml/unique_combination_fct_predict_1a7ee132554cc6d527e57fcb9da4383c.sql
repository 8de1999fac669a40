
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
select date, spec, model_version, carrier, origin, dest, sched_dep_hour, count(*) as rows_with_this_key
from "warehouse"."marts"."fct_predictions_vs_actuals"
group by date, spec, model_version, carrier, origin, dest, sched_dep_hour
having count(*) > 1

  
  
      
    ) dbt_internal_test