-- Complementary suppression holds: never exactly one suppressed cell among cells that add up to a
-- published total, where it could be recovered as the total minus the others --
--   * the groups of one dimension in one geography (they add up to its 'All students'), and
--   * the same group in every school (the schools add up to the community cell).
with

within_dimension as (

    select
        'within dimension' as kind,
        indicator_id,
        period,
        geography,
        dimension,
        cast(null as {{ dbt.type_string() }}) as group_value,
        count(*) as cells,
        sum(case when suppressed then 1 else 0 end) as suppressed_cells
    from {{ ref('indicator_values') }}
    group by indicator_id, period, geography_level, geography, dimension

),

across_schools as (

    select
        'across schools' as kind,
        indicator_id,
        period,
        cast(null as {{ dbt.type_string() }}) as geography,  -- noqa: RF04
        dimension,
        group_value,
        count(*) as cells,
        sum(case when suppressed then 1 else 0 end) as suppressed_cells
    from {{ ref('indicator_values') }}
    where geography_level = 'school'
    group by indicator_id, period, dimension, group_value

),

recoverable as (

    select * from within_dimension
    where cells > 1
      and suppressed_cells = 1
    union all
    select * from across_schools
    where cells > 1
      and suppressed_cells = 1

)

select * from recoverable
