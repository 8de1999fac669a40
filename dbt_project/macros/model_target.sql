{#
  The value a model is judged against, computed from its target as data (the model reference
  table's `target`, e.g. 'arr_delay >= 15' or 'arr_delay'): a label column of stg_flights,
  optionally compared with a number (1.0 / 0.0). The same grammar the spec validates
  (mlops_assets/lib/model_spec.py); null while the flight has no label.
#}
{% macro label_value(target, flights) -%}
case regexp_extract({{ target }}, '^\s*([a-z_]+)', 1)
    when 'arr_delay' then {{ flights }}.arr_delay
    when 'cancelled' then cast({{ flights }}.is_cancelled as double)
end
{%- endmacro %}

{% macro model_actual(target, flights) -%}
{%- set value = label_value(target, flights) -%}
{%- set threshold = "try_cast(regexp_extract(" ~ target ~ ", '(-?[0-9]+(\\.[0-9]+)?)\\s*$', 1) as double)" -%}
case regexp_extract({{ target }}, '(>=|<=|==|>|<)', 1)
    when '' then {{ value }}
    when '>=' then cast({{ value }} >= {{ threshold }} as double)
    when '<=' then cast({{ value }} <= {{ threshold }} as double)
    when '>' then cast({{ value }} > {{ threshold }} as double)
    when '<' then cast({{ value }} < {{ threshold }} as double)
    when '==' then cast({{ value }} = {{ threshold }} as double)
end
{%- endmacro %}
