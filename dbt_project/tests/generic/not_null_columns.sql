{#-
    None of the listed columns is NULL in any row: one test per model over all its required columns,
    failing with one row per column that has NULLs (column_name, null_rows).
    Usage:  data_tests: [{not_null_columns: {arguments: {columns: [a, b]}}}]

    One scan instead of one test per column: each per-column test was its own dbt node and Dagster
    check, a scan and a fixed cost apiece, and there were over a hundred of them.
-#}
{% test not_null_columns(model, columns) %}

with

null_counts as (

    select
        {%- for column in columns %}
        count(*) - count({{ column }}) as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }}

)

{% for column in columns %}
select '{{ column }}' as column_name, {{ column }} as null_rows from null_counts where {{ column }} > 0
{% if not loop.last %}union all{% endif %}
{%- endfor %}

{% endtest %}
