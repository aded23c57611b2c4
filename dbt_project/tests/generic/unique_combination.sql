{#-
    The listed columns together identify a row (compound key), like dbt_utils'
    unique_combination_of_columns, without needing a package.
    Usage:  data_tests: [{unique_combination: {arguments: {columns: [a, b]}}}]
-#}
{% test unique_combination(model, columns) %}

with

duplicates as (

    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1

)

select * from duplicates

{% endtest %}
