{#-
    Small-cell suppression for indicator cells (columns indicator_id, period, geography_level,
    geography, dimension, group_value, numerator, denominator, value). Returns the same columns plus
    `suppressed`, with numerator, denominator and value NULL in every suppressed cell: DESIGN's rule
    is that no count under the minimum is published, and a small group's size is such a count.

    1. Primary (agenda.yml privacy, small_counts 'suppress'): a cell whose denominator is under the
       minimum cell size (var min_cell_size), or whose numerator or complement (denominator minus
       numerator) counts 1 to min - 1 people: such a count, or a rate that gives it away, can point to
       the few students with or without the outcome. A count of 0 in a group of at least the
       minimum is published, as the NCES SLDS brief on aggregate reporting does for 1 to n - 1.
    2. Complementary, within a group of cells that add up to a published total:
       * `partition_by` -- the groups of one dimension (indicator x period x geography x dimension
         add up to that geography's 'All students');
       * `across_by` -- the same group in every school (indicator x period x geography level x
         dimension x group: the schools add up to the community cell).
       If exactly one cell of such a set is suppressed and the set has other cells, the hidden one
       could be recovered as the total minus the others, so the next-smallest published cell
       (smallest denominator, then name) is suppressed too. Passes alternate between the two kinds
       of set (`rounds` times each; every pass only adds suppression, so it settles), because a cell hidden for one can leave a lone hidden cell in
       the other; tests/assert_no_recoverable_suppressed_cell.sql checks the result.

    Window functions in nested subqueries (no QUALIFY, no EXCLUDE): runs on DuckDB and PostgreSQL.
-#}
{% macro suppress_small_cells(
    cells,
    partition_by=['indicator_id', 'period', 'geography_level', 'geography', 'dimension'],
    across_by=['indicator_id', 'period', 'geography_level', 'dimension', 'group_value'],
    rounds=4,
    min_cell_size=none
) -%}
    {%- set min_size = min_cell_size if min_cell_size is not none else var('min_cell_size') -%}
    {%- set columns = ['indicator_id', 'period', 'geography_level', 'geography', 'dimension', 'group_value',
                       'numerator', 'denominator', 'value'] -%}
    {%- set passes = [] -%}
    {%- for round in range(rounds) -%}
        {%- do passes.append((partition_by, 'group_value')) -%}
        {%- if across_by -%}{%- do passes.append((across_by, 'geography')) -%}{%- endif -%}
    {%- endfor -%}
    select
        {%- for column in columns %}
        {%- if column in ['numerator', 'denominator', 'value'] %}
        case when is_suppressed then null else {{ column }} end as {{ column }},
        {%- else %}
        {{ column }},
        {%- endif %}
        {%- endfor %}
        is_suppressed as suppressed
    from (
    {#- innermost first: the primary flags, then one wrapping subquery per complementary pass -#}
    {%- for partition, tie_breaker in passes | reverse %}
        select
            {{ columns | join(', ') }},
            is_suppressed
            or (
                suppressed_in_set = 1
                and cells_in_set > 1
                and not is_suppressed
                and published_size_rank = 1
            ) as is_suppressed
        from (
            select
                in_set.*,
                sum(case when is_suppressed then 1 else 0 end)
                    over (partition by {{ partition | join(', ') }}) as suppressed_in_set,
                count(*) over (partition by {{ partition | join(', ') }}) as cells_in_set,
                row_number() over (
                    partition by {{ partition | join(', ') }}
                    order by case when is_suppressed then 1 else 0 end, denominator, {{ tie_breaker }}
                ) as published_size_rank
            from (
    {%- endfor %}
                select
                    {{ columns | join(', ') }},
                    denominator < {{ min_size }}
                    or numerator between 1 and {{ min_size - 1 }}
                    or denominator - numerator between 1 and {{ min_size - 1 }} as is_suppressed
                from {{ cells }}
    {%- for partition, tie_breaker in passes %}
            ) as in_set
        ) as pass_{{ loop.index }}
    {%- endfor %}
    ) as decided
{%- endmacro %}
