
    
    

with all_values as (

    select
        status as value_field,
        count(*) as n_records

    from "warehouse"."marts"."fct_drift_history"
    group by status

)

select *
from all_values
where value_field not in (
    'ok','warn','drift','decay','pending','info'
)


