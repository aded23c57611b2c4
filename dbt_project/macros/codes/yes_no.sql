{#- Y/N flag -> boolean (anything else -> null). -#}
{% macro yes_no_to_boolean(column) -%}
    case {{ column }}
        when 'Y' then true
        when 'N' then false
    end
{%- endmacro %}
