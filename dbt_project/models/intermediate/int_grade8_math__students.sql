-- Grade-8 mathematics state test takers, one row per student per school year, with that year's
-- demographics from enrollment (NULL when the student has no enrollment record that year).
{{ state_test_takers(grade=8, subject_code='MATH') }}
