{#-
    Calendar year a period starts in, as an integer: a school year '2024-25' -> 2024, a year '2025'
    -> 2025. Indicator periods, baselines and targets are compared on it (on-track trajectory).
-#}
{% macro period_start_year(column) -%}
    cast(substring({{ column }}, 1, 4) as {{ dbt.type_int() }})
{%- endmacro %}
