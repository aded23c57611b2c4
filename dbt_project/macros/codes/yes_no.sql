{#- Y/N flag -> boolean (anything else -> null). -#}
{% macro yes_no_to_boolean(column) -%}
    case {{ column }}
        when 'Y' then true
        when 'N' then false
    end
{%- endmacro %}

{#- Boolean flag -> the label its group is published under ('Y' group, 'N' group; NULL stays NULL). -#}
{% macro flag_label(column, true_label, false_label) -%}
    case
        when {{ column }} then '{{ true_label }}'
        when not {{ column }} then '{{ false_label }}'
    end
{%- endmacro %}
