-- Kindergartners assessed at school entry, one row per child per school year, with that year's
-- demographics from the district's enrollment (NULL when the child has no enrollment record).
with

readiness as (

    select * from {{ ref('stg_early_learning_coalition__kindergarten_readiness') }}

),

demographics as (

    select * from {{ ref('int_students__demographics') }}

),

joined as (

    select

        ---------- ids
        readiness.student_id,
        readiness.school_year as period,
        readiness.school_year,

        ---------- school (receiving school)
        readiness.school_id,
        readiness.school_name,

        ---------- outcome
        readiness.readiness_score,
        readiness.readiness_level,
        readiness.is_kindergarten_ready,
        readiness.prek_program,

        ---------- demographics
        demographics.race_ethnicity,
        demographics.gender,
        demographics.econ_disadvantaged,
        demographics.english_learner,
        demographics.special_education,

        ---------- lineage
        readiness.submission_id,
        readiness.source_row

    from readiness
    left join demographics
        on readiness.student_id = demographics.student_id
        and readiness.school_year = demographics.school_year

),

final as (

    select * from joined

)

select * from final
