-- Published indicators: one row per indicator x period x geography x dimension x group, with
-- small cells suppressed (macros/suppress_small_cells.sql) and progress against the agenda's
-- baseline and target. Each indicator of the agenda (var indicators, from agenda.yml) adds its cells
-- (macros/indicator_cells.sql) from its intermediate model int_<indicator>__students, one row per
-- person per period: column `period`, the agenda's `numerator_column`, one column per dimension
-- (var dimensions) holding the person's group, and `school_name` when the agenda requires 'school'
-- (a school geography). The agenda (config source) decides which breakdowns are published.
{%- set agenda_indicators = var('indicators') %}
{%- set dimensions = var('dimensions') %}
with

indicators as (

    select * from {{ ref('stg_config__indicators') }}

),

disaggregations as (

    select * from {{ ref('stg_config__indicator_disaggregations') }}

),

{%- for indicator in agenda_indicators %}

{{ indicator.id }}_students as (

    select * from {{ ref('int_' ~ indicator.id ~ '__students') }}

),
{%- endfor %}
{%- for indicator in agenda_indicators %}

{{ indicator.id }} as (

    {{ indicator_cells(indicator.id, indicator.id ~ '_students', 'period', indicator.numerator_column,
                       breakdowns=dimensions, school_column='school_name' if indicator.school_geography else none) }}

),
{%- endfor %}

-- MATERIALIZED (DuckDB and PostgreSQL both accept it): planned and computed once, apart from the
-- suppression passes below; inlined, DuckDB's optimizer spends seconds on the combined plan.
cells as materialized (
{% for indicator in agenda_indicators %}
    {% if not loop.first %}union all
    {% endif %}select * from {{ indicator.id }}
{%- endfor %}

),

required_cells as (

    -- the agenda's indicators, by the breakdowns it requires of each (always 'All students')
    select cells.*
    from cells
    inner join indicators
        on cells.indicator_id = indicators.indicator_id
    where (
            cells.dimension = 'all_students'
            or exists (
                select 1 from disaggregations
                where disaggregations.indicator_id = cells.indicator_id
                  and disaggregations.dimension = cells.dimension
            )
        )
      and (
            cells.geography_level = 'community'
            or exists (
                select 1 from disaggregations
                where disaggregations.indicator_id = cells.indicator_id
                  and disaggregations.is_geography
            )
        )

),

suppressed as (

    {{ suppress_small_cells('required_cells') }}

),

with_targets as (

    select
        suppressed.*,
        indicators.higher_is_better,
        indicators.baseline_value,
        indicators.baseline_year,
        indicators.target_value,
        indicators.target_year,
        {{ period_start_year('suppressed.period') }} as period_year
    from suppressed
    inner join indicators
        on suppressed.indicator_id = indicators.indicator_id

),

trajectory as (

    select
        with_targets.*,
        -- where a straight line from baseline to target stands in this period
        {{ round_to(
            'baseline_value + (target_value - baseline_value)
                * cast(period_year - baseline_year as double precision)
                / nullif(target_year - baseline_year, 0)'
        ) }} as trajectory_value
    from with_targets

),

final as (

    select

        ---------- cell
        indicator_id,
        period,
        geography_level,
        geography,
        dimension,
        group_value,

        ---------- measure
        numerator,
        denominator,
        value,
        suppressed,

        ---------- progress
        baseline_value,
        target_value,
        case
            when not suppressed then {{ round_to('value - baseline_value') }}
        end as change_from_baseline,
        case
            when geography_level = 'community'
                and dimension = 'all_students'
                and not suppressed
                and period_year >= baseline_year
            then case
                when higher_is_better then value >= trajectory_value
                else value <= trajectory_value
            end
        end as on_track

    from trajectory

)

select * from final
