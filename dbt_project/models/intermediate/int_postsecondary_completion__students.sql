-- College enrollees of each graduation cohort (graduates who enrolled at Riverbend College within
-- the enrollment window), one row per enrollee: did they earn a college award (certificate or
-- degree) within var('postsecondary_completion_window_months') months of high school graduation?
-- A cohort is listed only once that window has closed for all its graduates by the date the
-- college's records run through.
{%- set window_months = var('postsecondary_completion_window_months') %}
with

enrollees as (

    select * from {{ ref('int_postsecondary_enrollment__students') }}
    where is_enrolled_within_window

),

awards as (

    select * from {{ ref('stg_riverbend_college__completion') }}

),

college_coverage as (

    {{ college_data_through() }}

),

awards_in_window as (

    select
        enrollees.student_id,
        enrollees.cohort_year,
        awards.award_date,
        awards.award_level_code,
        row_number() over (
            partition by enrollees.student_id, enrollees.cohort_year
            order by awards.award_date, awards.award_level_code
        ) as award_order
    from enrollees
    inner join awards
        on enrollees.student_id = awards.student_id
        and awards.award_date >= enrollees.first_enrollment_date
        and awards.award_date <= {{ dbt.dateadd('month', window_months, 'enrollees.graduation_date') }}

),

first_award as (

    select * from awards_in_window
    where award_order = 1

),

closed_cohorts as (

    select enrollees.cohort_year
    from enrollees
    cross join college_coverage
    group by enrollees.cohort_year, college_coverage.data_through
    having {{ dbt.dateadd('month', window_months, 'max(enrollees.graduation_date)') }} <= college_coverage.data_through

),

joined as (

    select

        ---------- ids
        enrollees.student_id,
        enrollees.period,
        enrollees.cohort_year,

        ---------- high school and first college enrollment
        enrollees.school_id,
        enrollees.school_name,
        enrollees.graduation_date,
        enrollees.first_enrollment_date,
        enrollees.first_program_level_code,

        ---------- outcome
        first_award.student_id is not null as is_completed_within_window,
        first_award.award_date as first_award_date,
        first_award.award_level_code as first_award_level_code,

        ---------- demographics
        enrollees.race_ethnicity,
        enrollees.gender,
        enrollees.econ_disadvantaged,
        enrollees.english_learner,
        enrollees.special_education

    from enrollees
    inner join closed_cohorts
        on enrollees.cohort_year = closed_cohorts.cohort_year
    left join first_award
        on enrollees.student_id = first_award.student_id
        and enrollees.cohort_year = first_award.cohort_year

),

final as (

    select * from joined

)

select * from final
