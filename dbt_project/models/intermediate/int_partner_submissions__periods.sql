-- One row per partner delivery, whatever its status, with the delivery period it counts for (the
-- period of the pipeline's calendar it was received in), how its expectations went, and -- for a
-- rejected (quarantined or unreadable) delivery -- when the partner's next accepted delivery of the
-- same dataset fixed it.
with

submissions as (

    select
        submission_id,
        partner,
        dataset,
        source,
        received_at,
        row_count,
        status,
        checked_at
    from {{ source('raw', 'submissions') }}

),

calendar as (

    select * from {{ source_or_empty('quality', 'delivery_calendar', {
        'partner': 'varchar', 'dataset': 'varchar', 'period': 'varchar',
        'period_start': 'date', 'period_end': 'date'}) }} as calendar

),

check_counts as (

    select
        submission_id,
        sum(case when success then 1 else 0 end) as checks_passed,
        sum(case when success then 0 else 1 end) as checks_failed
    from {{ source_or_empty('quality', 'check_results', {'submission_id': 'varchar', 'success': 'boolean'}) }}
        as results
    group by submission_id

),

fixes as (

    select
        rejected.submission_id,
        min(accepted.received_at) as fixed_at
    from submissions as rejected
    inner join submissions as accepted
        on rejected.partner = accepted.partner
        and rejected.dataset = accepted.dataset
        and accepted.status = 'accepted'
        and accepted.received_at > rejected.received_at
    where rejected.status in ('quarantined', 'unreadable')
    group by rejected.submission_id

),

final as (

    select
        -- ids
        submissions.submission_id,
        submissions.partner,
        submissions.dataset,
        calendar.period,

        -- the delivery
        submissions.source,
        submissions.received_at,
        submissions.status,
        submissions.row_count,

        -- its checks
        coalesce(check_counts.checks_passed, 0) as checks_passed,
        coalesce(check_counts.checks_failed, 0) as checks_failed,

        -- rejection and fix
        case
            when submissions.status in ('quarantined', 'unreadable')
                then coalesce(submissions.checked_at, submissions.received_at)
        end as rejected_at,
        fixes.fixed_at

    from submissions
    inner join calendar
        on submissions.partner = calendar.partner
        and submissions.dataset = calendar.dataset
        and cast(submissions.received_at as date) >= calendar.period_start
        and cast(submissions.received_at as date) < calendar.period_end
    left join check_counts
        on check_counts.submission_id = submissions.submission_id
    left join fixes
        on fixes.submission_id = submissions.submission_id

)

select * from final
