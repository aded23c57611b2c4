-- Members of each 4-year graduation cohort who did not transfer out, one row per student per
-- cohort, with demographics from the student's latest enrollment record up to the cohort's senior
-- year (a student who left before the senior-year snapshot keeps the last known attributes).
with

graduation as (

    select * from {{ ref('stg_riverbend_isd__graduation') }}

),

demographics as (

    select * from {{ ref('int_students__demographics') }}

),

cohort_members as (

    -- transfers out leave the cohort: they are neither graduates nor non-graduates here
    select * from graduation
    where outcome_code <> 'T'

),

demographics_as_of_senior_year as (

    select
        cohort_members.student_id,
        cohort_members.cohort_year,
        demographics.race_ethnicity,
        demographics.gender,
        demographics.econ_disadvantaged,
        demographics.english_learner,
        demographics.special_education,
        row_number() over (
            partition by cohort_members.student_id, cohort_members.cohort_year
            order by demographics.school_year_start desc
        ) as recency_rank
    from cohort_members
    inner join demographics
        on cohort_members.student_id = demographics.student_id
        -- the senior year of cohort 2025 starts in the fall of 2024
        and demographics.school_year_start <= cohort_members.cohort_year - 1

),

joined as (

    select

        ---------- ids
        cohort_members.student_id,
        cast(cohort_members.cohort_year as {{ dbt.type_string() }}) as period,
        cohort_members.cohort_year,

        ---------- school (high school of the cohort record)
        cohort_members.school_id,
        cohort_members.school_name,

        ---------- outcome
        cohort_members.outcome_code,
        cohort_members.outcome,
        cohort_members.is_graduated,
        cohort_members.graduation_date,

        ---------- demographics
        latest.race_ethnicity,
        latest.gender,
        latest.econ_disadvantaged,
        latest.english_learner,
        latest.special_education,

        ---------- lineage
        cohort_members.submission_id,
        cohort_members.source_row

    from cohort_members
    left join demographics_as_of_senior_year as latest
        on cohort_members.student_id = latest.student_id
        and cohort_members.cohort_year = latest.cohort_year
        and latest.recency_rank = 1

),

final as (

    select * from joined

)

select * from final
