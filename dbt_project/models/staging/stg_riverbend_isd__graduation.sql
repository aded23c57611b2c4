{{ config(materialized='incremental', unique_key=natural_key('riverbend_isd__graduation')) }}

with

source as (

    {{ accepted_latest_rows(source('raw', 'riverbend_isd__graduation'), natural_key('riverbend_isd__graduation')) }}

),

renamed as (

    select

        ---------- ids
        student_id,
        school_id,

        ---------- school
        {{ school_name('school_id') }} as school_name,

        ---------- cohort
        cohort_year,

        ---------- outcome
        outcome as outcome_code,
        {{ graduation_outcome_label('outcome') }} as outcome,

        ---------- booleans
        outcome = 'G' as is_graduated,

        ---------- dates
        graduation_date,

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
