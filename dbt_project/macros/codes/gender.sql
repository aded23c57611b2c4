{#- Shared gender codes -> label. X is the state's nonbinary / not-specified marker. -#}
{% macro gender_label(column) -%}
    {{ code_label(column, [
        ('F', 'Female'),
        ('M', 'Male'),
        ('X', 'Nonbinary/not specified'),
    ]) }}
{%- endmacro %}
