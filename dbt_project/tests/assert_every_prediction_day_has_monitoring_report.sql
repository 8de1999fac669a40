{{ config(meta={'dagster': {'ref': {'name': 'fct_drift_history'}}}) }}
-- A day that was scored must have been monitored: predictions without a report (or a report
-- without drift rows) mean monitoring failed or never ran that day, a hole in the drift history.
with scored as (
    select spec, date, count(*) as predictions
    from {{ ref('stg_predictions') }}
    where {{ in_partition_window('date') }}
    group by spec, date
),
reported as (select distinct spec, date from {{ ref('stg_monitoring_reports') }}),
drift_tracked as (select distinct spec, date from {{ ref('fct_drift_history') }})
select
    s.spec,
    s.date,
    s.predictions,
    r.date is null as report_missing,
    d.date is null as drift_rows_missing
from scored as s
left join reported as r using (spec, date)
left join drift_tracked as d using (spec, date)
where r.date is null or d.date is null
