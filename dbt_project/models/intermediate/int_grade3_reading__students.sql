-- Grade-3 ELA state test takers, one row per student per school year, with that year's
-- demographics from enrollment (NULL when the student has no enrollment record that year).
with

assessments as (

    select * from {{ ref('stg_riverbend_isd__assessments') }}

),

demographics as (

    select * from {{ ref('int_students__demographics') }}

),

grade3_ela as (

    select * from assessments
    where grade = 3
      and subject_code = 'ELA'

),

joined as (

    select

        ---------- ids
        grade3_ela.student_id,
        grade3_ela.school_year,
        grade3_ela.school_year_start,

        ---------- school (where tested)
        grade3_ela.school_id,
        grade3_ela.school_name,

        ---------- outcome
        grade3_ela.scale_score,
        grade3_ela.performance_level,
        grade3_ela.is_proficient,

        ---------- demographics
        demographics.race_ethnicity_code,
        demographics.race_ethnicity,
        demographics.gender_code,
        demographics.gender,
        demographics.is_econ_disadvantaged,
        demographics.is_english_learner,
        demographics.is_special_education,

        ---------- lineage
        grade3_ela.submission_id,
        grade3_ela.source_row

    from grade3_ela
    left join demographics
        on grade3_ela.student_id = demographics.student_id
        and grade3_ela.school_year = demographics.school_year

),

final as (

    select * from joined

)

select * from final
