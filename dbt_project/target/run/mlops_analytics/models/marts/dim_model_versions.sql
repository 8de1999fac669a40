
    

    create  table
      "warehouse"."marts"."dim_model_versions__dbt_tmp"
  
    
    as (
      -- Model version lineage: every trained version, what data commit and window it was trained on,
-- and which days it served.
with served as (
    select version_key, min(date) as first_served, max(date) as last_served, count(distinct date) as days_served
    from "warehouse"."staging"."stg_predictions"
    group by version_key
),
latest_day as (
    select spec, max(date) as date from "warehouse"."staging"."stg_predictions" group by spec
),
serving_now as (
    select distinct p.version_key from "warehouse"."staging"."stg_predictions" as p join latest_day using (spec, date)
)
select
    v.*,
    s.first_served,
    s.last_served,
    coalesce(s.days_served, 0) as days_served,
    v.version_key in (select version_key from serving_now) as is_serving_now
from "warehouse"."staging"."stg_model_versions" as v
left join served as s using (version_key)
    );
    
  