{#-
    State test takers of one grade and subject, one row per student per school year, with that
    year's demographics from enrollment (NULL when the student has no enrollment record that year).
    The body of the int_grade<N>_<subject>__students models, which differ only in grade and subject.
-#}
{% macro state_test_takers(grade, subject_code) -%}
    with

    assessments as (

        select * from {{ ref('stg_riverbend_isd__assessments') }}

    ),

    demographics as (

        select * from {{ ref('int_students__demographics') }}

    ),

    tested as (

        select * from assessments
        where grade = {{ grade }}
          and subject_code = '{{ subject_code }}'

    ),

    joined as (

        select

            ---------- ids
            tested.student_id,
            tested.school_year as period,
            tested.school_year,
            tested.school_year_start,

            ---------- school (where tested)
            tested.school_id,
            tested.school_name,

            ---------- outcome
            tested.scale_score,
            tested.performance_level,
            tested.is_proficient,

            ---------- demographics
            demographics.race_ethnicity_code,
            demographics.race_ethnicity,
            demographics.gender_code,
            demographics.gender,
            demographics.is_econ_disadvantaged,
            demographics.is_english_learner,
            demographics.is_special_education,
            demographics.econ_disadvantaged,
            demographics.english_learner,
            demographics.special_education,

            ---------- lineage
            tested.submission_id,
            tested.source_row

        from tested
        left join demographics
            on tested.student_id = demographics.student_id
            and tested.school_year = demographics.school_year

    ),

    final as (

        select * from joined

    )

    select * from final
{%- endmacro %}
