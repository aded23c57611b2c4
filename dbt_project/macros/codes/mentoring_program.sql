{#- Bright Futures Mentoring program ids -> program name. -#}
{% macro mentoring_program_label(column) -%}
    {{ code_label(column, [
        ('BFM-READ', 'Reading Buddies'),
        ('BFM-MENTOR', '1:1 Mentoring'),
    ]) }}
{%- endmacro %}
