{#- Pre-K program codes -> label. -#}
{% macro prek_program_label(column) -%}
    {{ code_label(column, [
        ('HS', 'Head Start'),
        ('SP', 'State pre-K'),
        ('PR', 'Private pre-K'),
        ('NO', 'No pre-K'),
    ]) }}
{%- endmacro %}
