-- High school graduates of each cohort, one row per graduate, linked through the pseudonymous
-- student id to Riverbend College's term enrollments: did the graduate enroll within
-- var('postsecondary_enrollment_window_months') (12) months of the graduation date? A cohort is
-- listed only once that window has closed for all its graduates by the date the college's records
-- run through (a younger cohort would look low only because its graduates have had less time).
{%- set window_months = var('postsecondary_enrollment_window_months') %}
with

graduates as (

    select * from {{ ref('int_hs_graduation_4yr__students') }}
    where is_graduated

),

college_enrollment as (

    select * from {{ ref('stg_riverbend_college__postsecondary_enrollment') }}

),

college_coverage as (

    {{ college_data_through() }}

),

enrollment_in_window as (

    select
        graduates.student_id,
        graduates.cohort_year,
        college_enrollment.enrollment_date,
        college_enrollment.term_code,
        college_enrollment.program_level_code,
        row_number() over (
            partition by graduates.student_id, graduates.cohort_year
            order by college_enrollment.enrollment_date, college_enrollment.term_code
        ) as enrollment_order
    from graduates
    inner join college_enrollment
        on graduates.student_id = college_enrollment.student_id
        -- after high school (dual enrollment before graduating does not count) ...
        and college_enrollment.enrollment_date >= graduates.graduation_date
        -- ... and within the window
        and college_enrollment.enrollment_date <= {{ dbt.dateadd('month', window_months, 'graduates.graduation_date') }}

),

first_enrollment as (

    select * from enrollment_in_window
    where enrollment_order = 1

),

closed_cohorts as (

    select graduates.cohort_year
    from graduates
    cross join college_coverage
    group by graduates.cohort_year, college_coverage.data_through
    having {{ dbt.dateadd('month', window_months, 'max(graduates.graduation_date)') }} <= college_coverage.data_through

),

joined as (

    select

        ---------- ids
        graduates.student_id,
        graduates.period,
        graduates.cohort_year,

        ---------- high school
        graduates.school_id,
        graduates.school_name,
        graduates.graduation_date,

        ---------- outcome
        first_enrollment.student_id is not null as is_enrolled_within_window,
        first_enrollment.enrollment_date as first_enrollment_date,
        first_enrollment.term_code as first_term_code,
        first_enrollment.program_level_code as first_program_level_code,

        ---------- demographics
        graduates.race_ethnicity,
        graduates.gender,
        graduates.econ_disadvantaged,
        graduates.english_learner,
        graduates.special_education

    from graduates
    inner join closed_cohorts
        on graduates.cohort_year = closed_cohorts.cohort_year
    left join first_enrollment
        on graduates.student_id = first_enrollment.student_id
        and graduates.cohort_year = first_enrollment.cohort_year

),

final as (

    select * from joined

)

select * from final
