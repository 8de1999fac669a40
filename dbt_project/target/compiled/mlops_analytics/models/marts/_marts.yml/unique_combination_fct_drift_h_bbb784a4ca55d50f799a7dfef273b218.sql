
select date, spec, feature, metric, count(*) as rows_with_this_key
from "warehouse"."marts"."fct_drift_history"
group by date, spec, feature, metric
having count(*) > 1
