-- Published indicators: one row per indicator x period x geography x dimension x group,
-- with small cells suppressed (see macros/suppress_small_cells.sql). Each indicator adds its
-- cells to `cells`; suppression and the published shape are shared.
with

grade3_reading_students as (

    select * from {{ ref('int_grade3_reading__students') }}

),

grade3_reading as (

    {{ indicator_cells(
        indicator_id='grade3_reading',
        relation='grade3_reading_students',
        period_column='school_year',
        numerator_condition='is_proficient',
        breakdowns=['race_ethnicity']
    ) }}

),

cells as (

    select * from grade3_reading

),

suppressed as (

    {{ suppress_small_cells('cells') }}

),

final as (

    select
        indicator_id,
        period,
        geography,
        dimension,
        group_value,
        numerator,
        denominator,
        value,
        suppressed
    from suppressed

)

select * from final
