-- One row per student per school year: the fall enrollment snapshot's school and demographics,
-- the attributes every indicator is broken down by, with the labels they are published under.
-- The labels are added here, not in staging: staged enrollment is the widest copy the pipeline
-- keeps, and four label columns were a large share of its build;
-- this view computes them only for the rows a model reads.
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
        {{ school_name('school_id') }} as school_name,
        {{ school_level('school_id') }} as school_level,
        grade,

        ---------- demographics
        race_ethnicity_code,
        {{ race_ethnicity_label('race_ethnicity_code') }} as race_ethnicity,
        gender_code,
        {{ gender_label('gender_code') }} as gender,
        is_econ_disadvantaged,
        is_english_learner,
        is_special_education,

        ---------- group labels (the values indicators are published under)
        {{ flag_label('is_econ_disadvantaged', 'Economically disadvantaged', 'Not economically disadvantaged') }}
            as econ_disadvantaged,
        {{ flag_label('is_english_learner', 'English learner', 'Not an English learner') }} as english_learner,
        {{ flag_label('is_special_education', 'Special education', 'Not in special education') }} as special_education,

        ---------- dates
        birth_date,

        ---------- lineage
        accepted_at

    from enrollment

)

select * from final
