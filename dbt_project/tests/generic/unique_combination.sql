{#-
    The listed columns together identify a row (compound key), like dbt_utils'
    unique_combination_of_columns, without needing a package.
    Usage:  data_tests: [{unique_combination: {arguments: {columns: [a, b]}}}]

    Rows are first counted by one hash of their key columns; only hashes seen more than once are
    grouped by the columns themselves, so two different keys sharing a hash are never reported.
    Grouping one hash is cheaper than grouping the key columns, and the second step reads only the
    rows of repeated hashes (none when the test passes).
-#}
{% test unique_combination(model, columns) %}

with

repeated_hashes as (

    select {{ key_hash('keyed', columns) }} as key_hash
    from {{ model }} as keyed
    group by {{ key_hash('keyed', columns) }}
    having count(*) > 1

),

duplicates as (

    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }} as keyed
    inner join repeated_hashes
        on repeated_hashes.key_hash = {{ key_hash('keyed', columns) }}
    group by {{ columns | join(', ') }}
    having count(*) > 1

)

select * from duplicates

{% endtest %}
