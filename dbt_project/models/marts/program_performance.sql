-- Results-Based Accountability measures per program and school year (the agenda's programs):
--   how much   -- students served, sessions offered and attended;
--   how well   -- share of participants attending at least the program's dosage threshold
--                 (config: 75%) of the sessions offered to them;
--   better off -- grade 3-8 ELA proficiency of participants against comparable non-participants:
--                 students tested the same year in the same schools and grades as the tested
--                 participants, and in no Bright Futures program that year.
-- Every group under var('min_cell_size') is suppressed with its measures (see the yml), and so is
-- every group where 1 to min_cell_size - 1 of its people meet the measure or miss it (agenda.yml
-- privacy.small_counts 'suppress', as macros/suppress_small_cells.sql).
{%- set min_size = var('min_cell_size') %}
{%- set small = 'between 1 and ' ~ (min_size - 1) %}
with

programs as (

    select * from {{ ref('stg_config__programs') }}

),

participation as (

    select * from {{ ref('stg_bright_futures_mentoring__program_participation') }}

),

assessments as (

    select * from {{ ref('stg_riverbend_isd__assessments') }}

),

participants as (

    select
        participation.*,
        programs.dosage_threshold
    from participation
    inner join programs
        on participation.program_id = programs.program_id

),

how_much_how_well as (

    select
        program_id,
        school_year,
        count(*) as students_served,
        cast(sum(sessions_offered) as {{ dbt.type_bigint() }}) as sessions_offered,
        cast(sum(sessions_attended) as {{ dbt.type_bigint() }}) as sessions_delivered,
        count(case when sessions_offered > 0 then 1 end) as participants_with_sessions,
        count(
            case
                when sessions_offered > 0
                    and cast(sessions_attended as double precision) / sessions_offered >= dosage_threshold
                then 1
            end
        ) as participants_meeting_dosage
    from participants
    group by program_id, school_year

),

ela_tested as (

    select
        student_id,
        school_year,
        school_id,
        grade,
        is_proficient
    from assessments
    where subject_code = 'ELA'
      and grade between 3 and 8

),

-- Each ELA test once per program its student took part in that year, or once with no program
-- (program_id null) for a student in no Bright Futures program that year.
tests_by_program as (

    select
        ela_tested.school_year,
        ela_tested.school_id,
        ela_tested.grade,
        ela_tested.is_proficient,
        participation.program_id
    from ela_tested
    left join participation
        on ela_tested.student_id = participation.student_id
        and ela_tested.school_year = participation.school_year

),

-- One pass over the tests: counts per class (school year, school, grade) and program. Everything
-- below reads only this small table, never the tests again (a join of the comparison classes back
-- to the tests cost seconds of every build on a large district).
class_counts as (

    select
        school_year,
        school_id,
        grade,
        program_id,
        count(*) as tested,
        count(case when is_proficient then 1 end) as proficient
    from tests_by_program
    group by school_year, school_id, grade, program_id

),

participant_classes as (

    select class_counts.*
    from class_counts
    inner join programs
        on class_counts.program_id = programs.program_id

),

participant_outcomes as (

    select
        program_id,
        school_year,
        cast(sum(tested) as {{ dbt.type_bigint() }}) as participants_tested,
        cast(sum(proficient) as {{ dbt.type_bigint() }}) as participants_proficient
    from participant_classes
    group by program_id, school_year

),

-- comparable non-participants: tested the same year in the same schools and grades as the
-- program's tested participants
comparison_outcomes as (

    select
        participant_classes.program_id,
        participant_classes.school_year,
        cast(sum(non_participants.tested) as {{ dbt.type_bigint() }}) as comparison_tested,
        cast(sum(non_participants.proficient) as {{ dbt.type_bigint() }}) as comparison_proficient
    from participant_classes
    inner join class_counts as non_participants
        on participant_classes.school_year = non_participants.school_year
        and participant_classes.school_id = non_participants.school_id
        and participant_classes.grade = non_participants.grade
    where non_participants.program_id is null
    group by participant_classes.program_id, participant_classes.school_year

),

measured as (

    select
        how_much_how_well.program_id,
        programs.program_name,
        how_much_how_well.school_year as period,
        how_much_how_well.students_served,
        how_much_how_well.sessions_offered,
        how_much_how_well.sessions_delivered,
        how_much_how_well.participants_with_sessions,
        how_much_how_well.participants_meeting_dosage,
        coalesce(participant_outcomes.participants_tested, 0) as participants_tested,
        coalesce(participant_outcomes.participants_proficient, 0) as participants_proficient,
        coalesce(comparison_outcomes.comparison_tested, 0) as comparison_tested,
        coalesce(comparison_outcomes.comparison_proficient, 0) as comparison_proficient
    from how_much_how_well
    inner join programs
        on how_much_how_well.program_id = programs.program_id
    left join participant_outcomes
        on how_much_how_well.program_id = participant_outcomes.program_id
        and how_much_how_well.school_year = participant_outcomes.school_year
    left join comparison_outcomes
        on how_much_how_well.program_id = comparison_outcomes.program_id
        and how_much_how_well.school_year = comparison_outcomes.school_year

),

flagged as (

    select
        measured.*,
        students_served < {{ min_size }} as how_much_suppressed,
        students_served < {{ min_size }}
        or participants_with_sessions < {{ min_size }}
        or participants_meeting_dosage {{ small }}
        or participants_with_sessions - participants_meeting_dosage {{ small }} as how_well_suppressed,
        participants_tested < {{ min_size }}
        or comparison_tested < {{ min_size }}
        or participants_proficient {{ small }}
        or participants_tested - participants_proficient {{ small }}
        or comparison_proficient {{ small }}
        or comparison_tested - comparison_proficient {{ small }} as better_off_suppressed
    from measured

),

final as (

    select

        ---------- ids
        program_id,
        program_name,
        period,

        ---------- how much
        case when not how_much_suppressed then students_served end as students_served,
        case when not how_much_suppressed then sessions_offered end as sessions_offered,
        case when not how_much_suppressed then sessions_delivered end as sessions_delivered,

        ---------- how well
        case when not how_well_suppressed then participants_with_sessions end as participants_with_sessions,
        case when not how_well_suppressed then participants_meeting_dosage end as participants_meeting_dosage,
        case
            when not how_well_suppressed
            then {{ proportion('participants_meeting_dosage', 'participants_with_sessions') }}
        end as dosage_share,

        ---------- better off
        case when not better_off_suppressed then participants_tested end as participants_tested,
        case when not better_off_suppressed then participants_proficient end as participants_proficient,
        case
            when not better_off_suppressed
            then {{ proportion('participants_proficient', 'participants_tested') }}
        end as participant_proficiency_rate,
        case when not better_off_suppressed then comparison_tested end as comparison_tested,
        case when not better_off_suppressed then comparison_proficient end as comparison_proficient,
        case
            when not better_off_suppressed
            then {{ proportion('comparison_proficient', 'comparison_tested') }}
        end as comparison_proficiency_rate,
        case
            when not better_off_suppressed
            then {{ round_to(proportion('participants_proficient', 'participants_tested') ~ ' - '
                             ~ proportion('comparison_proficient', 'comparison_tested')) }}
        end as proficiency_difference,

        ---------- privacy
        how_much_suppressed,
        how_well_suppressed,
        better_off_suppressed

    from flagged

)

select * from final
