{#- College program / award level codes -> label (same code set for enrollment and completion). -#}
{% macro award_level_label(column) -%}
    {{ code_label(column, [
        ('CERT', 'Certificate'),
        ('ASSOC', 'Associate degree'),
        ('BACH', "Bachelor's degree"),
    ]) }}
{%- endmacro %}
