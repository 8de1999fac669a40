select carrier, name as airline_name from {{ source('platform', 'raw_airlines') }}
