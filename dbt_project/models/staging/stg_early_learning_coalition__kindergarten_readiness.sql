{{ config(materialized='incremental', unique_key=natural_key('early_learning_coalition__kindergarten_readiness')) }}

with

source as (

    {{ accepted_latest_rows(source('raw', 'early_learning_coalition__kindergarten_readiness'), natural_key('early_learning_coalition__kindergarten_readiness')) }}

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

        ---------- readiness
        readiness_score,
        readiness_level as readiness_level_code,
        {{ readiness_level_label('readiness_level') }} as readiness_level,

        ---------- pre-k
        prek_program as prek_program_code,
        {{ prek_program_label('prek_program') }} as prek_program,

        ---------- booleans
        readiness_level = 'R' as is_kindergarten_ready,
        prek_program <> 'NO' as attended_prek,

        ---------- dates
        assessment_date,

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
