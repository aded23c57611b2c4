{#- 4-year cohort outcome codes -> label. -#}
{% macro graduation_outcome_label(column) -%}
    {{ code_label(column, [
        ('G', 'Graduated'),
        ('C', 'Still enrolled'),
        ('D', 'Dropped out'),
        ('T', 'Transferred out'),
    ]) }}
{%- endmacro %}
