{#- Riverbend ISD school codes -> school name and level. -#}
{% macro school_name(column) -%}
    {{ code_label(column, [
        ('101', 'Riverside Elementary'),
        ('102', 'Oak Hill Elementary'),
        ('103', 'Mill Creek Elementary'),
        ('104', 'Lakeview Elementary'),
        ('201', 'Riverbend Middle'),
        ('202', 'Eastside Middle'),
        ('301', 'Riverbend High'),
        ('302', 'Westfield High'),
    ]) }}
{%- endmacro %}

{% macro school_level(column) -%}
    case substring({{ column }}, 1, 1)
        when '1' then 'Elementary'
        when '2' then 'Middle'
        when '3' then 'High'
    end
{%- endmacro %}
