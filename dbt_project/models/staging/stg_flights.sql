-- One row per flight out of New York: the actual outcome the models are judged against.
with flights as (
    select *, make_date(year, month, day) as flight_date from {{ source('platform', 'raw_flights') }}
)
select
    strftime(flight_date, '%Y-%m-%d') || '-' || carrier || cast(flight as varchar) || '-' || origin as flight_id,
    flight_date as date,
    carrier,
    flight,
    origin,
    dest,
    origin || '-' || dest as route,
    hour as sched_dep_hour,
    arr_delay,
    dep_time is null as is_cancelled
from flights
