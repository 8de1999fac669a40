
    
    



select days_served
from "warehouse"."marts"."fct_champion_history"
where days_served is null


