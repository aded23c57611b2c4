-- One row per student: school and demographics from the student's most recent enrollment record
-- (for people measured after they left the district, e.g. young adults in wage records).
with

-- Read twice below: NOT MATERIALIZED keeps DuckDB from copying every enrollment row into a temporary
-- result first.
demographics as not materialized (

    select * from {{ ref('int_students__demographics') }}

),

latest_years as (

    -- A narrow aggregate then a join, not a window over every enrollment row: a window partitions
    -- whole rows and ran out of memory under the warehouse's limit at 10M assessment rows.
    select
        student_id,
        max(school_year_start) as school_year_start
    from demographics
    group by student_id

),

latest as (

    select demographics.*
    from demographics
    inner join latest_years
        on demographics.student_id = latest_years.student_id
        and demographics.school_year_start = latest_years.school_year_start

),

final as (

    select

        ---------- ids
        student_id,

        ---------- last enrollment
        school_year as last_school_year,
        school_id as last_school_id,
        school_name as last_school_name,
        grade as last_grade,

        ---------- demographics
        race_ethnicity,
        gender,
        econ_disadvantaged,
        english_learner,
        special_education,

        ---------- dates
        birth_date

    from latest

)

select * from final
