{#-
    The rows a staging model may use from an append-only raw landing table:
      * only from submissions whose status is 'accepted' (pending/quarantined/unreadable never pass),
      * only rows whose every value was typed cleanly (_parse_errors is null),
      * for a natural key delivered in several accepted submissions, the row of the most recent one
        (by _loaded_at, then _submission_id; _source_row breaks a tie inside one delivery).
    Adds `_accepted_at`, when the row's submission was accepted.
    Returns a select statement (all raw columns), meant to be the body of a model's `source` CTE.
    Written with a window function in a subquery (no QUALIFY) so it runs on DuckDB and PostgreSQL.

    Only the keys that can have an older delivery are ranked ("contested"), and the ranking yields
    the rows to drop (superseded), which the kept rows are anti-joined with on (submission, row).
    The rows themselves pass through one scan: ranking every row (a window partitions and sorts whole
    rows) took twice as long as copying them, and a union of "ranked" and "not ranked" rows made
    DuckDB materialize all accepted rows once more before writing them.

    A full build contests the keys whose hash was landed more than once, counted over the key columns
    alone: most keys arrive once. One hash instead of the key columns keeps that cheap (joining 10M
    rows on three text columns cost more than the window it saved); a hash shared by two keys only
    sends both to the ranking, which partitions by the key columns themselves.

    In an incremental build (the model's config: materialized='incremental', unique_key = its key
    columns as staged) the contested keys are those delivered by submissions accepted since the
    model's latest `accepted_at`; only they are selected, each re-ranked against every accepted row
    of that key, so the delete+insert replaces exactly those keys. Re-ranking against all rows (not
    only the new ones) keeps a submission that was accepted late from overriding a newer delivery of
    the same key.
-#}
{% macro accepted_latest_rows(relation, key_columns) -%}
    {%- set submissions = source('raw', 'submissions') -%}
    {%- set kept = 'contested' if is_incremental() else 'accepted' -%}
    with

    accepted as not materialized (

        select
            landed.*,
            accepted_submissions.checked_at as _accepted_at
        from {{ relation }} as landed
        inner join {{ submissions }} as accepted_submissions
            on accepted_submissions.submission_id = landed._submission_id
        where accepted_submissions.status = 'accepted'
          and landed._parse_errors is null

    ),

    {%- if is_incremental() %}

    -- the keys delivered by submissions accepted since this model's latest build
    contested_keys as (

        {%- set new_submissions = submissions_accepted_since_build(relation) %}
        select distinct {{ key_columns | join(', ') }}
        from {{ relation }} as landed
        {%- if new_submissions %}
        -- a landed row's _loaded_at is its submission's received_at: DuckDB skips the row groups of
        -- other deliveries by it (submission ids share a long prefix, their statistics prune nothing)
        where landed._loaded_at in ({% for row in new_submissions %}cast('{{ row[1] }}' as timestamp){% if not loop.last %}, {% endif %}{% endfor %})
          and landed._submission_id in ({% for row in new_submissions %}'{{ row[0] }}'{% if not loop.last %}, {% endif %}{% endfor %})
          and landed._parse_errors is null
        {%- else %}
        where false
        {%- endif %}

    ),

    -- read twice below (ranked, and kept): a few rows, computed once (each read joined every
    -- accepted row again)
    contested as materialized (

        select accepted.*
        from accepted
        inner join contested_keys
            on {% for column in key_columns %}contested_keys.{{ column }} = accepted.{{ column }}{% if not loop.last %}
            and {% endif %}{% endfor %}

    ),

    {%- else %}

    -- the keys (by hash) landed more than once, counted over the narrow key columns only
    contested_keys as (

        select {{ key_hash('landed', key_columns) }} as key_hash
        from {{ relation }} as landed
        group by {{ key_hash('landed', key_columns) }}
        having count(*) > 1

    ),

    contested as not materialized (

        select accepted.*
        from accepted
        inner join contested_keys
            on contested_keys.key_hash = {{ key_hash('accepted', key_columns) }}

    ),

    {%- endif %}

    -- every row of a contested key but its latest delivery, by (submission, row): the few rows to drop
    superseded as (

        select _submission_id, _source_row
        from (
            select
                _submission_id,
                _source_row,
                row_number() over (
                    partition by {{ key_columns | join(', ') }}
                    order by _loaded_at desc, _submission_id desc, _source_row desc
                ) as _delivery_rank
            from contested
        ) as ranked
        where _delivery_rank > 1

    )

    select kept.*
    from {{ kept }} as kept
    left join superseded
        on superseded._submission_id = kept._submission_id
        and superseded._source_row = kept._source_row
    where superseded._source_row is null
{%- endmacro %}


{#-
    [submission_id, received_at] of the submissions of `relation` accepted after the incremental
    model's latest `accepted_at`, read before the build: written into the SQL as literals, they let
    DuckDB skip the raw row groups of every other delivery.
-#}
{% macro submissions_accepted_since_build(relation) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set found = run_query(
        "select submission_id, received_at from " ~ source('raw', 'submissions')
        ~ " where status = 'accepted' and partner || '__' || dataset = '" ~ relation.identifier ~ "'"
        ~ " and checked_at > (select coalesce(max(accepted_at), cast('1900-01-01' as timestamp)) from " ~ this ~ ")"
        ~ " order by received_at"
    ) -%}
    {{ return(found.rows | list) }}
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
