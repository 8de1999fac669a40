{#- Schemas are `staging` and `marts`, not `<target schema>_marts`: analysts query marts.<table>. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
