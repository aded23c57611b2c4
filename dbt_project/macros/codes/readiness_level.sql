{#- Kindergarten readiness level codes -> label. -#}
{% macro readiness_level_label(column) -%}
    {{ code_label(column, [
        ('R', 'Ready'),
        ('A', 'Approaching'),
        ('N', 'Not yet ready'),
    ]) }}
{%- endmacro %}
