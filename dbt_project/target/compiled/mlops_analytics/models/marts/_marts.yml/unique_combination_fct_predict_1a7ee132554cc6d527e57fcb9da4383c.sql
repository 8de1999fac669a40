
select date, spec, model_version, carrier, origin, dest, sched_dep_hour, count(*) as rows_with_this_key
from "warehouse"."marts"."fct_predictions_vs_actuals"
group by date, spec, model_version, carrier, origin, dest, sched_dep_hour
having count(*) > 1
