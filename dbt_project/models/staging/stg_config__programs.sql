-- The programs whose performance the partnership reports, with each one's dosage threshold.
with

source as (

    select * from {{ source('config', 'programs') }}

),

renamed as (

    select

        ---------- ids
        program_id,

        ---------- program
        name as program_name,
        description,
        agenda_programs.source as source_dataset,

        ---------- how well
        cast(dosage_threshold as double precision) as dosage_threshold

    from source as agenda_programs

),

final as (

    select * from renamed

)

select * from final
