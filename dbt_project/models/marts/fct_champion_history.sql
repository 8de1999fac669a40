-- Which version served each spec, as intervals of consecutive scored days (the champion history).
with served_days as (
    select distinct spec, model_version, version_key, date from {{ ref('stg_predictions') }}
),
islands as (
    select *,
        date - cast(row_number() over (partition by spec, model_version order by date) as integer) as island
    from served_days
)
select
    spec,
    model_version,
    version_key,
    min(date) as served_from,
    max(date) as served_to,
    count(*) as days_served,
    max(date) = max(max(date)) over (partition by spec) as is_serving_now
from islands
group by spec, model_version, version_key, island
