-- The agenda's indicators with their baseline and target, and the calendar year each period
-- starts in (the on-track trajectory is drawn on those years).
with

source as (

    select * from {{ source('config', 'indicators') }}

),

renamed as (

    select

        ---------- ids
        id as indicator_id,

        ---------- definition
        title,
        description,
        numerator_definition,
        denominator_definition,
        unit,
        higher_is_better,
        sources,

        ---------- baseline and target
        baseline_period,
        {{ period_start_year('baseline_period') }} as baseline_year,
        cast(baseline_value as double precision) as baseline_value,
        target_period,
        {{ period_start_year('target_period') }} as target_year,
        cast(target_value as double precision) as target_value

    from source

),

final as (

    select * from renamed

)

select * from final
