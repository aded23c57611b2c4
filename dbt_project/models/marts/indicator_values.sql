-- Published indicators: one row per indicator x period x geography x dimension x group, with
-- small cells suppressed (macros/suppress_small_cells.sql) and progress against the agenda's
-- baseline and target. Each indicator adds its cells (macros/indicator_cells.sql) from its
-- intermediate model of one row per person per period; the agenda (config source) decides which
-- indicators are published and by which breakdowns.
{%- set dimensions = ['race_ethnicity', 'gender', 'econ_disadvantaged', 'english_learner', 'special_education'] %}
with

indicators as (

    select * from {{ ref('stg_config__indicators') }}

),

disaggregations as (

    select * from {{ ref('stg_config__indicator_disaggregations') }}

),

kindergarten_readiness_students as (

    select * from {{ ref('int_kindergarten_readiness__students') }}

),

grade3_reading_students as (

    select * from {{ ref('int_grade3_reading__students') }}

),

grade8_math_students as (

    select * from {{ ref('int_grade8_math__students') }}

),

hs_graduation_4yr_students as (

    select * from {{ ref('int_hs_graduation_4yr__students') }}

),

postsecondary_enrollment_students as (

    select * from {{ ref('int_postsecondary_enrollment__students') }}

),

postsecondary_completion_students as (

    select * from {{ ref('int_postsecondary_completion__students') }}

),

young_adult_employment_students as (

    select * from {{ ref('int_young_adult_employment__students') }}

),

kindergarten_readiness as (

    {{ indicator_cells('kindergarten_readiness', 'kindergarten_readiness_students', 'period',
                       'is_kindergarten_ready', breakdowns=dimensions, school_column='school_name') }}

),

grade3_reading as (

    {{ indicator_cells('grade3_reading', 'grade3_reading_students', 'period',
                       'is_proficient', breakdowns=dimensions, school_column='school_name') }}

),

grade8_math as (

    {{ indicator_cells('grade8_math', 'grade8_math_students', 'period',
                       'is_proficient', breakdowns=dimensions, school_column='school_name') }}

),

hs_graduation_4yr as (

    {{ indicator_cells('hs_graduation_4yr', 'hs_graduation_4yr_students', 'period',
                       'is_graduated', breakdowns=dimensions, school_column='school_name') }}

),

postsecondary_enrollment as (

    {{ indicator_cells('postsecondary_enrollment', 'postsecondary_enrollment_students', 'period',
                       'is_enrolled_within_window', breakdowns=dimensions, school_column='school_name') }}

),

postsecondary_completion as (

    {{ indicator_cells('postsecondary_completion', 'postsecondary_completion_students', 'period',
                       'is_completed_within_window', breakdowns=dimensions, school_column='school_name') }}

),

young_adult_employment as (

    -- no school geography: young adults have left school
    {{ indicator_cells('young_adult_employment', 'young_adult_employment_students', 'period',
                       'is_employed_in_year', breakdowns=dimensions) }}

),

-- MATERIALIZED (DuckDB and PostgreSQL both accept it): planned and computed once, apart from the
-- suppression passes below; inlined, DuckDB's optimizer spends seconds on the combined plan.
cells as materialized (

    select * from kindergarten_readiness
    union all
    select * from grade3_reading
    union all
    select * from grade8_math
    union all
    select * from hs_graduation_4yr
    union all
    select * from postsecondary_enrollment
    union all
    select * from postsecondary_completion
    union all
    select * from young_adult_employment

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
