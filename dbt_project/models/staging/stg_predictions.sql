-- Every model's predictions in one table. `task` and `actual` come from the version that scored
-- the row (its target in the model reference table, evaluated over the flight's outcome).
with versions as (
    select spec, model_version, task, target from {{ ref('stg_model_versions') }}
)
select
    p.model_name as spec,
    v.task,
    p.date,
    p.flight_id,
    p.model_version,
    p.model_name || ':v' || cast(p.model_version as varchar) as version_key,
    p.score,
    p.prediction,
    {{ model_actual('v.target', 'f') }} as actual
from {{ source('platform', 'predictions') }} as p
left join versions as v on v.spec = p.model_name and v.model_version = p.model_version
left join {{ ref('stg_flights') }} as f using (flight_id)
