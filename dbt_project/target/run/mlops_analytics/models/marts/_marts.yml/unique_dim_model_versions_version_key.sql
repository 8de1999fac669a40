
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    

select
    version_key as unique_field,
    count(*) as n_records

from "warehouse"."marts"."dim_model_versions"
where version_key is not null
group by version_key
having count(*) > 1



  
  
      
    ) dbt_internal_test