-- Every spec's predictions in one table; `actual` is the spec's target over the flight's outcome.
{% for spec_name, spec in var('specs').items() %}
select
    '{{ spec_name }}' as spec,
    '{{ spec.task }}' as task,
    p.date,
    p.flight_id,
    p.model_version,
    '{{ spec_name }}:v' || cast(p.model_version as varchar) as version_key,
    p.score,
    p.prediction,
    to_timestamp(p.scored_at) as scored_at,
    cast({{ spec.target }} as double) as actual
from {{ source('platform', 'predictions_' ~ spec_name) }} as p
left join {{ ref('stg_flights') }} as f using (flight_id)
{% if not loop.last %}union all{% endif %}
{% endfor %}
