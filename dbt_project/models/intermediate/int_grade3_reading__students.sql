-- Grade-3 English language arts state test takers, one row per student per school year, with that year's
-- demographics from enrollment (NULL when the student has no enrollment record that year).
{{ config(
    materialized='incremental',
    unique_key='period',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="{{ drop_years_without_test_takers(grade=3, subject_code='ELA') }}",
) }}
{{ state_test_takers(grade=3, subject_code='ELA') }}
