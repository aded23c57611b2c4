{#- Shared race/ethnicity codes (all partners) -> label used in published breakdowns. -#}
{% macro race_ethnicity_label(column) -%}
    {{ code_label(column, [
        ('AI', 'American Indian/Alaska Native'),
        ('AS', 'Asian'),
        ('BL', 'Black/African American'),
        ('HI', 'Hispanic/Latino'),
        ('PI', 'Native Hawaiian/Pacific Islander'),
        ('WH', 'White'),
        ('MR', 'Two or more races'),
    ]) }}
{%- endmacro %}
