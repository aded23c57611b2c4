{#-
    The natural key of raw landing table `table` (partner__dataset): its suite's meta.key
    (expectations/<dataset>.json, handed to dbt as var natural_keys by pipelines/models/dbt_vars.py),
    with each column named as the staging model stages it (`renamed`: {raw column: staged column}).
    A staging model reads its key here for accepted_latest_rows and its incremental unique_key; its
    unique_combination test passes `natural_key_of` (tests/generic/unique_combination.sql).
-#}
{% macro natural_key(table, renamed={}) -%}
    {%- set keys = var('natural_keys') -%}
    {%- if table not in keys -%}
        {{ exceptions.raise_compiler_error("no natural key for raw table '" ~ table ~ "': var natural_keys "
            ~ "has " ~ (keys | list | sort | join(', ')) ~ " (each suite's meta.key, expectations/<dataset>.json)") }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for column in keys[table] -%}
        {%- do columns.append(renamed.get(column, column)) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}
