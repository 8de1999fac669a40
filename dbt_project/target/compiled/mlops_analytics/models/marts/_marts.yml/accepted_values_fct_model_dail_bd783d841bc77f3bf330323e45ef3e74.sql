
    
    

with all_values as (

    select
        task as value_field,
        count(*) as n_records

    from "warehouse"."marts"."fct_model_daily_performance"
    group by task

)

select *
from all_values
where value_field not in (
    'classification','regression'
)


