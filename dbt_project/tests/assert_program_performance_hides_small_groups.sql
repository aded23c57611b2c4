-- program_performance publishes no group under the minimum cell size, no count of 1 to under it
-- meeting or missing a measure, and a suppressed measure group shows none of its counts or rates.
{%- set min_size = var('min_cell_size') %}
{%- set small = 'between 1 and ' ~ (min_size - 1) %}
select *
from {{ ref('program_performance') }}
where (not how_much_suppressed and students_served < {{ min_size }})
   or (not how_well_suppressed and (participants_with_sessions < {{ min_size }}
                                    or participants_meeting_dosage {{ small }}
                                    or participants_with_sessions - participants_meeting_dosage {{ small }}))
   or (not better_off_suppressed and (participants_tested < {{ min_size }} or comparison_tested < {{ min_size }}
                                      or participants_proficient {{ small }}
                                      or participants_tested - participants_proficient {{ small }}
                                      or comparison_proficient {{ small }}
                                      or comparison_tested - comparison_proficient {{ small }}))
   or (how_much_suppressed and (students_served is not null or sessions_offered is not null
                                or sessions_delivered is not null))
   or (how_well_suppressed and (participants_with_sessions is not null or participants_meeting_dosage is not null
                                or dosage_share is not null))
   or (better_off_suppressed and (participants_tested is not null or participants_proficient is not null
                                  or participant_proficiency_rate is not null or comparison_tested is not null
                                  or comparison_proficient is not null or comparison_proficiency_rate is not null
                                  or proficiency_difference is not null))
