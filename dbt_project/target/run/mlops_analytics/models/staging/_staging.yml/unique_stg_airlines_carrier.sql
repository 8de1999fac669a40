
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    

select
    carrier as unique_field,
    count(*) as n_records

from "warehouse"."staging"."stg_airlines"
where carrier is not null
group by carrier
having count(*) > 1



  
  
      
    ) dbt_internal_test