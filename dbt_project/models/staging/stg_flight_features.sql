-- The segmentation columns of the rows the models scored (what the model saw, before departure).
select flight_id, date, carrier, origin, dest, origin || '-' || dest as route, sched_dep_hour
from {{ source('platform', 'flight_features') }}
