
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    

with child as (
    select version_key as from_field
    from "warehouse"."marts"."fct_model_daily_performance"
    where version_key is not null
),

parent as (
    select version_key as to_field
    from "warehouse"."marts"."dim_model_versions"
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null



  
  
      
    ) dbt_internal_test