-- Every spec's daily monitoring long table in one table.
{% for spec_name in var('specs') %}
select
    date,
    spec,
    model_version,
    spec || ':v' || cast(model_version as varchar) as version_key,
    metric,
    feature,
    value,
    threshold,
    status
from {{ source('platform', 'monitoring_' ~ spec_name) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
