-- One row per student: school and demographics from the student's most recent enrollment record
-- (for people measured after they left the district, e.g. young adults in wage records).
with

demographics as (

    select * from {{ ref('int_students__demographics') }}

),

ranked as (

    select
        demographics.*,
        row_number() over (
            partition by student_id
            order by school_year_start desc
        ) as recency_rank
    from demographics

),

final as (

    select

        ---------- ids
        student_id,

        ---------- last enrollment
        school_year as last_school_year,
        school_id as last_school_id,
        school_name as last_school_name,
        grade as last_grade,

        ---------- demographics
        race_ethnicity,
        gender,
        econ_disadvantaged,
        english_learner,
        special_education,

        ---------- dates
        birth_date

    from ranked
    where recency_rank = 1

)

select * from final
