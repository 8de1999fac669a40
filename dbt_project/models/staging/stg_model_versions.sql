-- Every trained version of every spec, with what it was trained on.
{% for spec_name in var('specs') %}
select
    '{{ spec_name }}' as spec,
    model_version,
    '{{ spec_name }}:v' || cast(model_version as varchar) as version_key,
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
from {{ source('platform', 'model_versions_' ~ spec_name) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
