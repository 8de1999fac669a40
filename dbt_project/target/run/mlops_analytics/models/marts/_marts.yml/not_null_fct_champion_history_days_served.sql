
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select days_served
from "warehouse"."marts"."fct_champion_history"
where days_served is null



  
  
      
    ) dbt_internal_test