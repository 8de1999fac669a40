
-- A day that was scored must have been monitored: predictions without a report mean the
-- monitoring run failed or was never launched for that day, and the drift history has a hole.
select p.spec, p.date, count(*) as predictions_without_report
from "warehouse"."staging"."stg_predictions" as p
left join (select distinct spec, date from "warehouse"."staging"."stg_monitoring_reports") as r using (spec, date)
where r.date is null and true
group by p.spec, p.date