-- The breakdowns each indicator must be published by; 'school' means one geography per school.
with

source as (

    select * from {{ source('config', 'indicator_disaggregations') }}

),

renamed as (

    select

        ---------- ids
        indicator_id,
        dimension,

        ---------- kind
        -- published as geographies ('school'), not as groups (pipelines.core.agenda.BREAKDOWNS)
        dimension in ('{{ var('geography_dimensions') | join("', '") }}') as is_geography

    from source

),

final as (

    select * from renamed

)

select * from final
