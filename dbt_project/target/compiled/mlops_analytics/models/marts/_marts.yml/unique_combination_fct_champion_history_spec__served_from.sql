
select spec, served_from, count(*) as rows_with_this_key
from "warehouse"."marts"."fct_champion_history"
group by spec, served_from
having count(*) > 1
