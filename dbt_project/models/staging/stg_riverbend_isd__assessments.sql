{{ config(materialized='incremental', unique_key=natural_key('riverbend_isd__assessments', {'subject': 'subject_code'})) }}

with

source as (

    {{ accepted_latest_rows(source('raw', 'riverbend_isd__assessments'), natural_key('riverbend_isd__assessments')) }}

),

renamed as (

    select

        ---------- ids
        student_id,
        school_id,

        ---------- school
        {{ school_name('school_id') }} as school_name,

        ---------- period
        school_year,
        {{ school_year_start('school_year') }} as school_year_start,

        ---------- test
        grade,
        subject as subject_code,
        {{ assessment_subject_label('subject') }} as subject,

        ---------- numerics
        scale_score,
        performance_level,

        ---------- booleans
        performance_level >= 3 as is_proficient,

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
