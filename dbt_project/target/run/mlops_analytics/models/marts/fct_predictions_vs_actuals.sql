insert into "warehouse"."marts"."fct_predictions_vs_actuals" ("date", "spec", "task", "model_version", "version_key", "carrier", "airline_name", "origin", "dest", "route", "sched_dep_hour", "n_predictions", "n_labelled", "mean_score", "mean_prediction", "mean_actual", "mean_abs_error")
    (
        select "date", "spec", "task", "model_version", "version_key", "carrier", "airline_name", "origin", "dest", "route", "sched_dep_hour", "n_predictions", "n_labelled", "mean_score", "mean_prediction", "mean_actual", "mean_abs_error"
        from "fct_predictions_vs_actuals__dbt_tmp20261123132710530410"
    )


  