
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
select * from "warehouse"."marts"."fct_model_daily_performance"
where label_coverage is not null
  and (label_coverage < 0 or label_coverage > 1)

  
  
      
    ) dbt_internal_test