{#- College term code 'YYYYFA' | 'YYYYSP' | 'YYYYSU' -> season label and calendar year. -#}
{% macro term_season_label(column) -%}
    case substring({{ column }}, 5, 2)
        when 'FA' then 'Fall'
        when 'SP' then 'Spring'
        when 'SU' then 'Summer'
    end
{%- endmacro %}

{% macro term_year(column) -%}
    cast(substring({{ column }}, 1, 4) as {{ dbt.type_int() }})
{%- endmacro %}
