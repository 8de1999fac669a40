-- Every trained version of every spec, with what it was trained on.

select
    'late_arrival' as spec,
    model_version,
    'late_arrival:v' || cast(model_version as varchar) as version_key,
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
    to_timestamp(trained_at) as trained_at
from read_parquet('/tmp/dbtdev/published/models/late_arrival/data.parquet')
union all

select
    'arrival_delay' as spec,
    model_version,
    'arrival_delay:v' || cast(model_version as varchar) as version_key,
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
    to_timestamp(trained_at) as trained_at
from read_parquet('/tmp/dbtdev/published/models/arrival_delay/data.parquet')

