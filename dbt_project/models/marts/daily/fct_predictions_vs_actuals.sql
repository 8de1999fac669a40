-- Predictions against actuals per day, spec, model version, carrier, origin, route and hour.
select
    p.date,
    p.spec,
    p.task,
    p.model_version,
    p.version_key,
    x.carrier,
    a.airline_name,
    x.origin,
    x.dest,
    x.route,
    x.sched_dep_hour,
    count(*) as n_predictions,
    count(p.actual) as n_labelled,
    avg(p.score) as mean_score,
    avg(p.prediction) as mean_prediction,
    avg(p.actual) as mean_actual,
    avg(abs(p.score - p.actual)) as mean_abs_error
from {{ ref('stg_predictions') }} as p
join {{ ref('stg_flight_features') }} as x using (flight_id, date)
left join {{ ref('stg_airlines') }} as a using (carrier)
where {{ in_partition_window('p.date') }}
group by all
