{#-
    The rows a staging model may use from an append-only raw landing table:
      * only from submissions whose status is 'accepted' (pending/quarantined/unreadable never pass),
      * only rows whose every value was typed cleanly (_parse_errors is null),
      * for a natural key delivered in several accepted submissions, the row of the most recent one
        (by _loaded_at, then _submission_id; _source_row breaks a tie inside one delivery).
    Adds `_accepted_at`, when the row's submission was accepted (and `_key_hash`, `_delivery_rank`).
    Returns a select statement (all raw columns), meant to be the body of a model's `source` CTE.
    Written with a window function in a subquery (no QUALIFY) so it runs on DuckDB and PostgreSQL.

    A full build ranks only the rows whose key hash was landed more than once: most keys arrive
    once, and a window over every row (it partitions and sorts whole rows) took twice as long as the
    copy itself at 10M rows (stg enrollment 17 s -> 9 s). Matching on one hash instead of the key
    columns keeps the split cheap (joining 10M rows on three text columns cost more than the window
    saved); a hash shared by two keys only sends both to the ranking, and a NULL key hashes like any
    other value, so the ranking still sees every row of every repeated key.

    In an incremental build (the model's config: materialized='incremental', unique_key = its key
    columns as staged) only the keys delivered by submissions accepted since the model's latest
    `accepted_at` are selected, each re-ranked against every accepted row of that key, so the
    delete+insert replaces exactly those keys. Re-ranking against all rows (not only the new ones)
    keeps a submission that was accepted late from overriding a newer delivery of the same key.
-#}
{% macro accepted_latest_rows(relation, key_columns) -%}
    {%- set submissions = source('raw', 'submissions') -%}
    with

    candidates as not materialized (

        select
            landed.*,
            accepted_submissions.checked_at as _accepted_at,
            {{ key_hash('landed', key_columns) }} as _key_hash
        from {{ relation }} as landed
        inner join {{ submissions }} as accepted_submissions
            on accepted_submissions.submission_id = landed._submission_id
        {%- if is_incremental() %}
        inner join (
            select distinct {% for column in key_columns %}delivered.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
            from {{ relation }} as delivered
            inner join {{ submissions }} as new_submissions
                on new_submissions.submission_id = delivered._submission_id
            where new_submissions.status = 'accepted'
              and delivered._parse_errors is null
              and new_submissions.checked_at > (
                  select coalesce(max(accepted_at), cast('1900-01-01' as timestamp)) from {{ this }}
              )
        ) as touched
            on {% for column in key_columns %}touched.{{ column }} = landed.{{ column }}{% if not loop.last %}
            and {% endif %}{% endfor %}
        {%- endif %}
        where accepted_submissions.status = 'accepted'
          and landed._parse_errors is null

    ),

    {%- if is_incremental() %}

    to_rank as not materialized (

        select * from candidates

    ),

    {%- else %}

    repeated_keys as (

        select {{ key_hash('landed', key_columns) }} as key_hash
        from {{ relation }} as landed
        group by {{ key_hash('landed', key_columns) }}
        having count(*) > 1

    ),

    to_rank as not materialized (

        select candidates.*
        from candidates
        inner join repeated_keys
            on repeated_keys.key_hash = candidates._key_hash

    ),

    {%- endif %}

    ranked as (

        select
            to_rank.*,
            row_number() over (
                partition by {% for column in key_columns %}to_rank.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
                order by to_rank._loaded_at desc, to_rank._submission_id desc, to_rank._source_row desc
            ) as _delivery_rank
        from to_rank

    )

    select * from ranked
    where _delivery_rank = 1
    {%- if not is_incremental() %}
    union all
    select
        candidates.*,
        1 as _delivery_rank
    from candidates
    left join repeated_keys
        on repeated_keys.key_hash = candidates._key_hash
    where repeated_keys.key_hash is null
    {%- endif %}
{%- endmacro %}


{#- A hash of the key columns of `alias`: one value to group and join on instead of several. -#}
{% macro key_hash(alias, key_columns) -%}
    {{ return(adapter.dispatch('key_hash')(alias, key_columns)) }}
{%- endmacro %}

{% macro default__key_hash(alias, key_columns) -%}
    md5(cast(row({% for column in key_columns %}{{ alias }}.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}) as text))
{%- endmacro %}

{% macro duckdb__key_hash(alias, key_columns) -%}
    hash({% for column in key_columns %}{{ alias }}.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}
