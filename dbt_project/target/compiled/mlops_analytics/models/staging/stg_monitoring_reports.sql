-- Every spec's daily monitoring long table in one table.

select
    date,
    spec,
    model_version,
    spec || ':v' || cast(model_version as varchar) as version_key,
    metric,
    feature,
    value,
    threshold,
    status
from read_parquet('/tmp/dbtdev/published/monitoring/late_arrival/daily_report/date=*/data.parquet', union_by_name = true)
union all

select
    date,
    spec,
    model_version,
    spec || ':v' || cast(model_version as varchar) as version_key,
    metric,
    feature,
    value,
    threshold,
    status
from read_parquet('/tmp/dbtdev/published/monitoring/arrival_delay/daily_report/date=*/data.parquet', union_by_name = true)

