{{ config(materialized='incremental', unique_key=['student_id', 'school_year']) }}

with

source as (

    {{ accepted_latest_rows(source('raw', 'riverbend_isd__enrollment'), ['student_id', 'school_year']) }}

),

renamed as (

    select

        ---------- ids
        student_id,
        school_id,

        ---------- school
        {{ school_name('school_id') }} as school_name,
        {{ school_level('school_id') }} as school_level,

        ---------- period
        school_year,
        {{ school_year_start('school_year') }} as school_year_start,

        ---------- numerics
        grade,

        ---------- demographics
        race_ethnicity as race_ethnicity_code,
        {{ race_ethnicity_label('race_ethnicity') }} as race_ethnicity,
        gender as gender_code,
        {{ gender_label('gender') }} as gender,

        ---------- booleans
        {{ yes_no_to_boolean('econ_disadvantaged') }} as is_econ_disadvantaged,
        {{ yes_no_to_boolean('english_learner') }} as is_english_learner,
        {{ yes_no_to_boolean('special_education') }} as is_special_education,

        ---------- dates
        birth_date,

        ---------- lineage
        _submission_id as submission_id,
        _source_row as source_row,
        _loaded_at as loaded_at,
        _accepted_at as accepted_at

    from source

),

final as (

    select * from renamed

)

select * from final
