-- Grade-8 mathematics state test takers, one row per student per school year, with that year's
-- demographics from enrollment (NULL when the student has no enrollment record that year).
{{ config(
    materialized='incremental',
    unique_key='period',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="{{ drop_years_without_test_takers(grade=8, subject_code='MATH') }}",
) }}
{{ state_test_takers(grade=8, subject_code='MATH') }}
