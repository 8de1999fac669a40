
select * from "warehouse"."marts"."fct_model_daily_performance"
where accuracy is not null
  and (accuracy < 0 or accuracy > 1)
