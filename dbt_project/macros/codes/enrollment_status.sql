{#- College enrollment intensity codes -> label. -#}
{% macro enrollment_status_label(column) -%}
    {{ code_label(column, [
        ('FT', 'Full-time'),
        ('PT', 'Part-time'),
    ]) }}
{%- endmacro %}
