
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
select * from "warehouse"."marts"."fct_model_daily_performance"
where accuracy is not null
  and (accuracy < 0 or accuracy > 1)

  
  
      
    ) dbt_internal_test