-- Every model's health on each monitored day: the daily figures of the Model Operations Center
-- (asset monitoring/overview shows the latest day of each model; this mart keeps the history).
with reports as (
    select * from {{ ref('stg_monitoring_reports') }} where {{ in_partition_window() }}
),
versions as (
    select * from {{ ref('stg_model_versions') }}
),
daily as (
    select
        r.date,
        r.spec,
        max(r.model_version) as model_version,
        max(r.value) filter (where r.metric = 'rows_scored' and r.feature is null) as rows_scored,
        max(r.threshold) filter (where r.metric = 'row_count' and r.feature is null) as volume_floor,
        coalesce(bool_or(r.metric = 'row_count' and r.status = 'warn'), false) as volume_alert,
        max(r.value) filter (where r.metric = 'latency_ms_per_100_p50') as latency_ms_per_100_p50,
        max(r.value) filter (where r.metric = 'latency_ms_per_100_p95') as latency_ms_per_100_p95,
        count(*) filter (where r.feature is not null and r.status = 'warn') as data_quality_warnings,
        count(distinct r.feature) filter (where r.status = 'drift') as drifting_features,
        string_agg(distinct r.feature, ',' order by r.feature) filter (where r.status = 'drift') as drifting_feature_names,
        count(*) filter (where r.status in ('warn', 'drift', 'decay')) as n_alerts
    from reports as r
    group by r.date, r.spec
),
performance as (
    -- The promotion metric of the version that served the day: realized once labels land, estimated from the start.
    select
        r.date,
        r.spec,
        max(r.value) filter (where r.metric = v.holdout_metric) as realized_score,
        max(r.value) filter (where r.metric = 'estimated_' || v.holdout_metric) as estimated_score,
        max(r.value) filter (where r.metric = 'estimated_' || v.holdout_metric || '_lower') as estimated_lower,
        max(r.value) filter (where r.metric = 'estimated_' || v.holdout_metric || '_upper') as estimated_upper
    from reports as r
    join versions as v using (version_key)
    where r.feature is null
    group by r.date, r.spec
)
select
    d.date,
    d.spec,
    v.task,
    v.holdout_metric as metric,
    d.model_version,
    v.version_key,
    d.date - v.holdout_end as model_age_days,
    v.trained_at,
    v.trigger as retrain_trigger,
    v.retrain_reason,
    d.rows_scored,
    d.volume_floor,
    d.volume_alert,
    d.latency_ms_per_100_p50,
    d.latency_ms_per_100_p95,
    v.holdout_score,
    p.realized_score,
    p.estimated_score,
    p.estimated_lower,
    p.estimated_upper,
    p.realized_score - p.estimated_score as estimation_error,
    d.data_quality_warnings,
    d.drifting_features,
    d.drifting_feature_names,
    d.n_alerts
from daily as d
join versions as v on v.spec = d.spec and v.model_version = d.model_version
left join performance as p on p.date = d.date and p.spec = d.spec
