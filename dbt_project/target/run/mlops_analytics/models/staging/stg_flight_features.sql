
  
  create view "warehouse"."staging"."stg_flight_features__dbt_tmp" as (
    -- The segmentation columns of the rows the models scored (what the model saw, before departure).
select flight_id, date, carrier, origin, dest, origin || '-' || dest as route, sched_dep_hour
from read_parquet('/tmp/dbtdev/published/features/flight_features/date=*/data.parquet', union_by_name = true)
  );
