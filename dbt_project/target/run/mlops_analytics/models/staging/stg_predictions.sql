
  
  create view "warehouse"."staging"."stg_predictions__dbt_tmp" as (
    -- Every spec's predictions in one table; `actual` is the spec's target over the flight's outcome.

select
    'late_arrival' as spec,
    'classification' as task,
    p.date,
    p.flight_id,
    p.model_version,
    'late_arrival:v' || cast(p.model_version as varchar) as version_key,
    p.score,
    p.prediction,
    to_timestamp(p.scored_at) as scored_at,
    cast(arr_delay >= 15 as double) as actual
from read_parquet('/tmp/dbtdev/published/predictions/late_arrival/date=*/data.parquet', union_by_name = true) as p
left join "warehouse"."staging"."stg_flights" as f using (flight_id)
union all

select
    'arrival_delay' as spec,
    'regression' as task,
    p.date,
    p.flight_id,
    p.model_version,
    'arrival_delay:v' || cast(p.model_version as varchar) as version_key,
    p.score,
    p.prediction,
    to_timestamp(p.scored_at) as scored_at,
    cast(arr_delay as double) as actual
from read_parquet('/tmp/dbtdev/published/predictions/arrival_delay/date=*/data.parquet', union_by_name = true) as p
left join "warehouse"."staging"."stg_flights" as f using (flight_id)


  );
