{#- State test subject codes -> label. -#}
{% macro assessment_subject_label(column) -%}
    {{ code_label(column, [
        ('ELA', 'English language arts'),
        ('MATH', 'Mathematics'),
    ]) }}
{%- endmacro %}
