-- Complementary suppression holds: in a period x geography x dimension with several groups,
-- never exactly one suppressed cell (it could be recovered from the total minus the others).
with

partitions as (

    select
        indicator_id,
        period,
        geography,
        dimension,
        count(*) as cells,
        sum(case when suppressed then 1 else 0 end) as suppressed_cells
    from {{ ref('indicator_values') }}
    group by indicator_id, period, geography, dimension

)

select * from partitions
where cells > 1
  and suppressed_cells = 1
