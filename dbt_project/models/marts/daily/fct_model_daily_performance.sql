-- How each serving model version did on each day, once the day's flights have outcomes.
select
    date,
    spec,
    task,
    model_version,
    version_key,
    count(*) as n_predictions,
    count(actual) as n_labelled,
    count(actual) / count(*) as label_coverage,
    avg(score) as mean_score,
    avg(actual) as mean_actual,
    case when task = 'classification' then avg(case when prediction = actual then 1.0 else 0.0 end) filter (where actual is not null) end as accuracy,
    case when task = 'classification' then avg(power(score - actual, 2)) end as brier_score,
    case when task = 'regression' then avg(abs(score - actual)) end as mae,
    case when task = 'regression' then sqrt(avg(power(score - actual, 2))) end as rmse,
    case when task = 'regression' then avg(score - actual) end as bias
from {{ ref('stg_predictions') }}
where {{ in_partition_window() }}
group by date, spec, task, model_version, version_key
