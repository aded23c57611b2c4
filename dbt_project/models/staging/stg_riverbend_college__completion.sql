{{ config(materialized='incremental', unique_key=natural_key('riverbend_college__completion', {'award_level': 'award_level_code'})) }}

with

source as (

    {{ accepted_latest_rows(source('raw', 'riverbend_college__completion'), natural_key('riverbend_college__completion')) }}

),

renamed as (

    select

        ---------- ids
        student_id,

        ---------- award
        award_level as award_level_code,
        {{ award_level_label('award_level') }} as award_level,
        program_code,

        ---------- dates
        award_date,

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
