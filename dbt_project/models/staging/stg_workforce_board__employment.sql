{{ config(materialized='incremental', unique_key=natural_key('workforce_board__employment')) }}

with

source as (

    {{ accepted_latest_rows(source('raw', 'workforce_board__employment'), natural_key('workforce_board__employment')) }}

),

renamed as (

    select

        ---------- ids
        student_id,

        ---------- period
        quarter,
        cast(substring(quarter, 1, 4) as {{ dbt.type_int() }}) as quarter_year,
        cast(substring(quarter, 6, 1) as {{ dbt.type_int() }}) as quarter_number,

        ---------- industry
        industry_code,
        {{ naics_sector_label('industry_code') }} as industry,

        ---------- numerics
        quarterly_wages,

        ---------- booleans
        {{ yes_no_to_boolean('employed') }} as is_employed,

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
