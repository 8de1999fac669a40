{#- Incremental marts are rebuilt a partition window at a time: delete the window, insert it again.
    Used as a pre_hook, so re-running a range replaces it exactly (nothing stale, nothing doubled). -#}
{% macro delete_partition_window(column='date') -%}
  {%- if is_incremental() -%}
    delete from {{ this }} where {{ in_partition_window(column) }}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
