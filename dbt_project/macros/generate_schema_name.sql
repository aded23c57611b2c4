{#-
    Models land in exactly the schema their folder configures (staging, intermediate, marts),
    not dbt's default "<target schema>_<custom schema>". Without a custom schema: the target's.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
