{#-
    State test takers of one grade and subject, one row per student per school year, with that
    year's demographics from enrollment (NULL when the student has no enrollment record that year).
    The whole of the int_grade<N>_<subject>__students models (config included), which differ only
    in grade and subject.

    Incremental by school year (the models' config: unique_key='period', delete+insert): a build
    recomputes only the school years in which a staged assessment or enrollment row was accepted
    after the watermarks this table keeps (the latest `accepted_at` of either staging model when the
    year was last computed), each year whole: any assessment row counts, whatever its grade, so a
    test moved to another grade leaves its old year's population too. The models' post-hook removes
    a school year that no longer has a single test taker (nothing is inserted for it to replace).
-#}
{% macro state_test_takers(grade, subject_code) -%}
    {{ config(
        materialized='incremental',
        unique_key='period',
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        post_hook="{{ drop_years_without_test_takers(" ~ grade ~ ", '" ~ subject_code ~ "') }}",
    ) }}
    with

    -- Each read several times below: NOT MATERIALIZED keeps DuckDB from first copying every staged
    -- row into a temporary result (at 10M assessment rows: 11 s instead of 1.5 s per model).
    assessments as not materialized (

        select * from {{ ref('stg_riverbend_isd__assessments') }}

    ),

    demographics as not materialized (

        select * from {{ ref('int_students__demographics') }}

    ),

    watermarks as (

        select
            (select max(accepted_at) from assessments) as assessments_accepted_through,
            (select max(accepted_at) from demographics) as enrollment_accepted_through

    ),

    {%- if is_incremental() %}

    built as (

        select
            max(assessments_accepted_through) as assessments_accepted_through,
            max(enrollment_accepted_through) as enrollment_accepted_through
        from {{ this }}

    ),

    changed_years as (

        select assessments.school_year
        from assessments
        cross join built
        where built.assessments_accepted_through is null
           or assessments.accepted_at > built.assessments_accepted_through
        union
        select demographics.school_year
        from demographics
        cross join built
        where built.enrollment_accepted_through is null
           or demographics.accepted_at > built.enrollment_accepted_through

    ),

    {%- endif %}

    tested as (

        select * from assessments
        where grade = {{ grade }}
          and subject_code = '{{ subject_code }}'
          {%- if is_incremental() %}
          and school_year in (select school_year from changed_years)
          {%- endif %}

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
            tested.source_row,
            watermarks.assessments_accepted_through,
            watermarks.enrollment_accepted_through

        from tested
        cross join watermarks
        left join demographics
            on tested.student_id = demographics.student_id
            and tested.school_year = demographics.school_year

    ),

    final as (

        select * from joined

    )

    select * from final
{%- endmacro %}


{#- The models' post-hook: drop the school years left without a single test taker. -#}
{% macro drop_years_without_test_takers(grade, subject_code) -%}
    delete from {{ this }}
    where period not in (
        select school_year
        from {{ ref('stg_riverbend_isd__assessments') }}
        where grade = {{ grade }}
          and subject_code = '{{ subject_code }}'
          and school_year is not null
    )
{%- endmacro %}
