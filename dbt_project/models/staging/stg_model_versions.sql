-- Every trained version of every model, with what it was trained on and what it predicts.
select
    model_name as spec,
    model_version,
    model_name || ':v' || cast(model_version as varchar) as version_key,
    run_id,
    training_commit,
    cast(train_start as date) as train_start,
    cast(train_end as date) as train_end,
    cast(holdout_start as date) as holdout_start,
    cast(holdout_end as date) as holdout_end,
    train_rows,
    holdout_rows,
    metric as holdout_metric,
    holdout_score,
    spec_hash,
    code_version,
    git_sha,
    to_timestamp(trained_at) as trained_at,
    task,
    target,
    trigger,
    retrain_reason
from {{ source('platform', 'model_versions') }}
