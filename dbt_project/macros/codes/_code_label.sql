{#-
    CASE expression mapping a code column to its label; an unknown code maps to NULL (the partner's
    expectations reject unknown codes before staging, and not_null tests on the labels catch a gap).
    `mapping` is a list of (code, label) pairs so the generated SQL keeps the documented order.
    Used by one macro per code set below; works on every adapter (plain CASE).
-#}
{% macro code_label(column, mapping, else_value=none) -%}
    case {{ column }}
        {%- for code, label in mapping %}
        when '{{ code }}' then '{{ label | replace("'", "''") }}'
        {%- endfor %}
        else {{ else_value if else_value is not none else 'null' }}
    end
{%- endmacro %}
