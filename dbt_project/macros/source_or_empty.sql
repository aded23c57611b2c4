{#-
    source(source_name, table_name) when the table exists, else an empty relation with the given
    `columns` ({name: type}). For sources written by the pipeline's Python stages, which appear only
    once their writer first ran: a fresh instance or a hand-made test warehouse still builds.
    Use it as a relation: `from {{ source_or_empty(...) }} as alias`.
-#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        (select {% for name, type in columns.items() %}cast(null as {{ type }}) as {{ name }}{% if not loop.last %}, {% endif %}{% endfor %} where 1 = 0)
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
