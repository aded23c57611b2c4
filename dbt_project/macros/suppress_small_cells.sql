{#-
    Small-cell suppression for indicator cells (columns indicator_id, period, geography, dimension,
    group_value, numerator, denominator, value). Returns the same columns plus `suppressed`, with
    numerator, denominator and value NULL in every suppressed cell: DESIGN's rule is that no
    count under the minimum is published, and a small group's size is such a count.

    1. Primary: a cell whose denominator is under the minimum cell size (var min_cell_size).
    2. Complementary: within one `partition_by` group (period x geography x dimension of an
       indicator), if exactly one cell is suppressed and the dimension has other cells, the hidden
       numerator could be recovered as the total minus the other groups; so the next-smallest
       published cell (smallest denominator, then group_value) is suppressed too.

    Window functions in nested subqueries (no QUALIFY, no EXCLUDE): runs on DuckDB and PostgreSQL.
-#}
{% macro suppress_small_cells(cells, partition_by=['indicator_id', 'period', 'geography', 'dimension'], min_cell_size=none) -%}
    {%- set min_size = min_cell_size if min_cell_size is not none else var('min_cell_size') -%}
    {%- set partition = partition_by | join(', ') -%}
    select
        indicator_id,
        period,
        geography,
        dimension,
        group_value,
        case when is_suppressed then null else numerator end as numerator,
        case when is_suppressed then null else denominator end as denominator,
        case when is_suppressed then null else value end as value,
        is_suppressed as suppressed
    from (
        select
            ranked.*,
            ranked.is_primary_suppressed
            or (
                ranked.primary_suppressed_cells = 1
                and ranked.cells_in_partition > 1
                and not ranked.is_primary_suppressed
                and ranked.published_size_rank = 1
            ) as is_suppressed
        from (
            select
                primary_flagged.*,
                sum(case when is_primary_suppressed then 1 else 0 end)
                    over (partition by {{ partition }}) as primary_suppressed_cells,
                count(*) over (partition by {{ partition }}) as cells_in_partition,
                row_number() over (
                    partition by {{ partition }}
                    order by case when is_primary_suppressed then 1 else 0 end, denominator, group_value
                ) as published_size_rank
            from (
                select
                    small_cells.*,
                    small_cells.denominator < {{ min_size }} as is_primary_suppressed
                from {{ cells }} as small_cells
            ) as primary_flagged
        ) as ranked
    ) as decided
{%- endmacro %}
