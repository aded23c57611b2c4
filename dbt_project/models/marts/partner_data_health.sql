-- Partner data health: one row per partner x dataset x delivery period, from the period of the
-- dataset's first delivery to the current one -- was it delivered on time, how late, how its checks
-- went, how many rows were accepted or rejected, and how long a rejected delivery took to be fixed.
--
-- Privacy: the counts here are deliveries, checks and delivered rows of a whole file, never people
-- in a group, so there is no cell to suppress; the empty privacy rule in _marts__models.yml says so.
with

calendar as (

    select * from {{ source_or_empty('quality', 'delivery_calendar', {
        'partner': 'varchar', 'dataset': 'varchar', 'cadence': 'varchar', 'period': 'varchar',
        'period_start': 'date', 'period_end': 'date', 'due_on': 'date', 'as_of': 'timestamp'}) }} as calendar

),

deliveries as (

    select * from {{ ref('int_partner_submissions__periods') }}

),

per_period as (

    select
        partner,
        dataset,
        period,
        count(*) as submissions,
        sum(case when status = 'accepted' then 1 else 0 end) as submissions_accepted,
        sum(case when status in ('quarantined', 'unreadable') then 1 else 0 end) as submissions_rejected,
        min(received_at) as first_received_at,
        sum(checks_passed) as checks_passed,
        sum(checks_failed) as checks_failed,
        sum(case when status = 'accepted' then row_count else 0 end) as rows_accepted,
        sum(case when status in ('quarantined', 'unreadable') then row_count else 0 end) as rows_rejected,
        min(rejected_at) as first_rejected_at,
        -- fixes come in order: the first rejection's fix is the earliest of them
        min(fixed_at) as fixed_at
    from deliveries
    group by partner, dataset, period

),

final as (

    select
        -- ids
        calendar.partner,
        calendar.dataset,
        calendar.period,
        calendar.cadence,
        calendar.period_start,
        calendar.due_on,

        -- timeliness
        case
            when per_period.first_received_at is not null
                and cast(per_period.first_received_at as date) <= calendar.due_on then 'on_time'
            when per_period.first_received_at is not null then 'late'
            when cast(calendar.as_of as date) > calendar.due_on then 'missing'
            else 'not_due_yet'
        end as delivery_status,
        per_period.first_received_at,
        case
            when per_period.first_received_at is not null
                then greatest(
                    0, {{ dbt.datediff('calendar.due_on', 'cast(per_period.first_received_at as date)', 'day') }}
                )
            -- a missed period stops counting when it ends: its delivery can no longer come
            when cast(calendar.as_of as date) > calendar.due_on
                then {{ dbt.datediff(
                    'calendar.due_on', 'least(cast(calendar.as_of as date), calendar.period_end)', 'day'
                ) }}
        end as days_late,

        -- deliveries and their checks
        cast(coalesce(per_period.submissions, 0) as {{ dbt.type_bigint() }}) as submissions,
        cast(coalesce(per_period.submissions_accepted, 0) as {{ dbt.type_bigint() }}) as submissions_accepted,
        cast(coalesce(per_period.submissions_rejected, 0) as {{ dbt.type_bigint() }}) as submissions_rejected,
        cast(coalesce(per_period.checks_passed, 0) as {{ dbt.type_bigint() }}) as checks_passed,
        cast(coalesce(per_period.checks_failed, 0) as {{ dbt.type_bigint() }}) as checks_failed,
        cast(coalesce(per_period.rows_accepted, 0) as {{ dbt.type_bigint() }}) as rows_accepted,
        cast(coalesce(per_period.rows_rejected, 0) as {{ dbt.type_bigint() }}) as rows_rejected,

        -- from the first rejection to the accepted resubmission
        per_period.first_rejected_at,
        per_period.fixed_at,
        {{ round_to(dbt.datediff('per_period.first_rejected_at', 'per_period.fixed_at', 'second') ~ ' / 3600.0', 1) }}
            as hours_to_fix,

        calendar.as_of

    from calendar
    left join per_period
        on calendar.partner = per_period.partner
        and calendar.dataset = per_period.dataset
        and per_period.period = calendar.period

)

select * from final
