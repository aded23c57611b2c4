{#-
    The rows a staging model may use from an append-only raw landing table:
      * only from submissions whose status is 'accepted' (pending/quarantined/unreadable never pass),
      * only rows whose every value was typed cleanly (_parse_errors is null),
      * for a natural key delivered in several accepted submissions, the row of the most recent one
        (by _loaded_at, then _submission_id; _source_row breaks a tie inside one delivery).
    Returns a select statement (all raw columns), meant to be the body of a model's `source` CTE.
    Written with a window function in a subquery (no QUALIFY) so it runs on DuckDB and PostgreSQL.
-#}
{% macro accepted_latest_rows(relation, key_columns) -%}
    {%- set submissions = source('raw', 'submissions') -%}
    select ranked.*
    from (
        select
            landed.*,
            row_number() over (
                partition by {% for column in key_columns %}landed.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
                order by landed._loaded_at desc, landed._submission_id desc, landed._source_row desc
            ) as _delivery_rank
        from {{ relation }} as landed
        inner join {{ submissions }} as accepted_submissions
            on accepted_submissions.submission_id = landed._submission_id
        where accepted_submissions.status = 'accepted'
          and landed._parse_errors is null
    ) as ranked
    where ranked._delivery_rank = 1
{%- endmacro %}
