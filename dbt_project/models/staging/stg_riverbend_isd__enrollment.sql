{{ config(materialized='incremental', unique_key=natural_key('riverbend_isd__enrollment')) }}

with

source as (

    {{ accepted_latest_rows(source('raw', 'riverbend_isd__enrollment'), natural_key('riverbend_isd__enrollment')) }}

),

renamed as (

    select

        ---------- ids
        student_id,
        school_id,

        ---------- period
        school_year,
        {{ school_year_start('school_year') }} as school_year_start,

        ---------- numerics
        grade,

        ---------- demographics (codes: int_students__demographics adds their labels)
        race_ethnicity as race_ethnicity_code,
        gender as gender_code,

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
