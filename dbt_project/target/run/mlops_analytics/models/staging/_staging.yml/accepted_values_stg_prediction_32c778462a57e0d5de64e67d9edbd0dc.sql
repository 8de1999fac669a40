
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    

with all_values as (

    select
        task as value_field,
        count(*) as n_records

    from "warehouse"."staging"."stg_predictions"
    group by task

)

select *
from all_values
where value_field not in (
    'classification','regression'
)



  
  
      
    ) dbt_internal_test