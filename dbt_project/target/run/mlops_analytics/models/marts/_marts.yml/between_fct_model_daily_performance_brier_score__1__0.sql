
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
select * from "warehouse"."marts"."fct_model_daily_performance"
where brier_score is not null
  and (brier_score < 0 or brier_score > 1)

  
  
      
    ) dbt_internal_test