{#- The rows of the run's partition window (vars min_date/max_date), or every row when unset. -#}
{% macro in_partition_window(column='date') -%}
  {%- if var('min_date') is not none and var('max_date') is not none -%}
    {{ column }} between cast('{{ var("min_date") }}' as date) and cast('{{ var("max_date") }}' as date)
  {%- else -%}
    true
  {%- endif -%}
{%- endmacro %}

