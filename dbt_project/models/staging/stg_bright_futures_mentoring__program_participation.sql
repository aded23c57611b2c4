{{ config(materialized='incremental', unique_key=natural_key('bright_futures_mentoring__program_participation')) }}

with

source as (

    {{ accepted_latest_rows(source('raw', 'bright_futures_mentoring__program_participation'), natural_key('bright_futures_mentoring__program_participation')) }}

),

renamed as (

    select

        ---------- ids
        student_id,
        program_id,

        ---------- program
        {{ mentoring_program_label('program_id') }} as program_name,

        ---------- period
        school_year,
        {{ school_year_start('school_year') }} as school_year_start,

        ---------- numerics
        sessions_offered,
        sessions_attended,
        {{ proportion('sessions_attended', 'sessions_offered') }} as attendance_rate,

        ---------- booleans
        exit_date is not null as has_exited,

        ---------- dates
        enrolled_date,
        exit_date,

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
