insert into "warehouse"."marts"."fct_drift_history" ("date", "spec", "model_version", "version_key", "feature", "metric", "value", "threshold", "status", "is_drifting")
    (
        select "date", "spec", "model_version", "version_key", "feature", "metric", "value", "threshold", "status", "is_drifting"
        from "fct_drift_history__dbt_tmp20261123132709357590"
    )


  