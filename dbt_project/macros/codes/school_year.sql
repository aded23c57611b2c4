{#- 'YYYY-YY' school year -> the calendar year it starts in, as an integer ('2024-25' -> 2024). -#}
{% macro school_year_start(column) -%}
    cast(substring({{ column }}, 1, 4) as {{ dbt.type_int() }})
{%- endmacro %}
