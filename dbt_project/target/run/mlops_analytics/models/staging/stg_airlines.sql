
  
  create view "warehouse"."staging"."stg_airlines__dbt_tmp" as (
    select carrier, name as airline_name from read_parquet('/tmp/dbtdev/published/raw/airlines/data.parquet')
  );
