-- Grade-3 English language arts state test takers, one row per student per school year, with that year's
-- demographics from enrollment (NULL when the student has no enrollment record that year).
{{ state_test_takers(grade=3, subject_code='ELA') }}
