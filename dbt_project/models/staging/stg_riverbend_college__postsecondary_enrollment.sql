{{ config(materialized='incremental', unique_key=natural_key('riverbend_college__postsecondary_enrollment', {'term': 'term_code'})) }}

with

source as (

    {{ accepted_latest_rows(source('raw', 'riverbend_college__postsecondary_enrollment'), natural_key('riverbend_college__postsecondary_enrollment')) }}

),

renamed as (

    select

        ---------- ids
        student_id,

        ---------- term
        term as term_code,
        {{ term_year('term') }} as term_year,
        {{ term_season_label('term') }} as term_season,

        ---------- enrollment
        enrollment_status as enrollment_status_code,
        {{ enrollment_status_label('enrollment_status') }} as enrollment_status,
        program_level as program_level_code,
        {{ award_level_label('program_level') }} as program_level,

        ---------- booleans
        enrollment_status = 'FT' as is_full_time,

        ---------- dates
        enrollment_date,

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
