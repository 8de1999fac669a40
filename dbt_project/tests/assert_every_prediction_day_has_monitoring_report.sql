{{ config(meta={'dagster': {'ref': {'name': 'fct_drift_history'}}}) }}
-- A day that was scored must have been monitored: predictions without a report mean the
-- monitoring run failed or was never launched for that day, and the drift history has a hole.
select p.spec, p.date, count(*) as predictions_without_report
from {{ ref('stg_predictions') }} as p
left join (select distinct spec, date from {{ ref('stg_monitoring_reports') }}) as r using (spec, date)
where r.date is null and {{ in_partition_window('p.date') }}
group by p.spec, p.date
