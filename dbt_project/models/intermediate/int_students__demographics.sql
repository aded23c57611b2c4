-- One row per student per school year: the fall enrollment snapshot's school and demographics,
-- the attributes every indicator is broken down by.
with

enrollment as (

    select * from {{ ref('stg_riverbend_isd__enrollment') }}

),

final as (

    select

        ---------- ids
        student_id,
        school_year,
        school_year_start,

        ---------- school
        school_id,
        school_name,
        school_level,
        grade,

        ---------- demographics
        race_ethnicity_code,
        race_ethnicity,
        gender_code,
        gender,
        is_econ_disadvantaged,
        is_english_learner,
        is_special_education,
        birth_date

    from enrollment

)

select * from final
