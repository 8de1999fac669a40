
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
select date, spec, model_version, count(*) as rows_with_this_key
from "warehouse"."marts"."fct_model_daily_performance"
group by date, spec, model_version
having count(*) > 1

  
  
      
    ) dbt_internal_test