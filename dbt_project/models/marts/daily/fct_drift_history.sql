-- Per-feature drift and data-quality statistics of each day, from the monitoring reports.
select
    date,
    spec,
    model_version,
    version_key,
    feature,
    metric,
    value,
    threshold,
    status,
    status = 'drift' as is_drifting
from {{ ref('stg_monitoring_reports') }}
where feature is not null and {{ in_partition_window() }}
