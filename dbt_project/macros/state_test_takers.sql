{#-
    State test takers of one grade and subject, one row per student per school year, with that
    year's demographics from enrollment (NULL when the student has no enrollment record that year).
    The whole of the int_grade<N>_<subject>__students models (config included), which differ only
    in grade and subject.

    Incremental by student and school year (the models' config: unique_key = student_id, period;
    delete+insert): a build recomputes only the student-years with a staged assessment or enrollment
    row accepted after the watermarks this table keeps (the latest `accepted_at` of either staging
    model when the rows were computed). Any assessment row counts, whatever its grade, so a test
    moved to another grade is noticed: the models' pre-hook deletes every changed student-year
    first, and only those that still have a test of this grade and subject are inserted again.
    Recomputing whole school years instead rewrote a quarter of the table per build, however small
    the correction.
-#}
{% macro state_test_takers(grade, subject_code) -%}
    {{ config(
        materialized='incremental',
        unique_key=['student_id', 'period'],
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        pre_hook="{{ delete_changed_student_years() }}",
    ) }}
    with

    -- Each read several times below: NOT MATERIALIZED keeps DuckDB from first copying every staged
    -- row into a temporary result.
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

    changed as (

        {{ changed_student_years() }}

    ),

    {%- endif %}

    tested as (

        select * from assessments
        where grade = {{ grade }}
          and subject_code = '{{ subject_code }}'
          {%- if is_incremental() %}
          and exists (
              select 1 from changed
              where changed.student_id = assessments.student_id
                and changed.school_year = assessments.school_year
          )
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


{#-
    The student-years with a staged assessment or enrollment row accepted after this table's
    watermarks. The watermarks are read before the build and written into the SQL as literals, so
    DuckDB skips every row group of the staging tables accepted before them (compared with a
    subquery, it read every staged row twice).
-#}
{% macro changed_student_years() -%}
    {%- set built = test_takers_watermarks() -%}
    select student_id, school_year
    from {{ ref('stg_riverbend_isd__assessments') }}
    where {{ accepted_after('accepted_at', built[0]) }}
    union
    select student_id, school_year
    from {{ ref('int_students__demographics') }}
    where {{ accepted_after('accepted_at', built[1]) }}
{%- endmacro %}


{#- [assessments, enrollment] accepted-through watermarks of this table (None while it is empty). -#}
{% macro test_takers_watermarks() -%}
    {%- if not execute -%}
        {{ return([none, none]) }}
    {%- endif -%}
    {%- set built = run_query(
        "select max(assessments_accepted_through), max(enrollment_accepted_through) from " ~ this
    ).rows[0] -%}
    {{ return([built[0], built[1]]) }}
{%- endmacro %}


{% macro accepted_after(column, watermark) -%}
    {%- if watermark is none -%}
        true
    {%- else -%}
        {{ column }} > cast('{{ watermark }}' as timestamp)
    {%- endif -%}
{%- endmacro %}


{#- The models' pre-hook: an incremental build first deletes every changed student-year. -#}
{% macro delete_changed_student_years() -%}
    {%- if is_incremental() %}
    delete from {{ this }} as test_takers
    where exists (
        select 1
        from ({{ changed_student_years() }}) as changed
        where changed.student_id = test_takers.student_id
          and changed.school_year = test_takers.period
    )
    {%- endif %}
{%- endmacro %}
