-- Every model's daily monitoring long table in one table.
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
from {{ source('platform', 'monitoring_reports') }}
