-- Young adults in the workforce board's UI wage records, one row per person per calendar year:
-- people aged 18-24 at the end of a quarter they have a wage record for (age from the birth date in
-- the district's enrollment, linked through the pseudonymous student id), and whether they were
-- employed in at least one of those quarters. Only calendar years whose four quarters are all in
-- the wage records are listed (a half year would not compare with a whole one). People with no
-- enrollment record have no known age and are left out.
with

wages as (

    select * from {{ ref('stg_workforce_board__employment') }}

),

people as (

    select * from {{ ref('int_students__latest_demographics') }}

),

aged as (

    select
        wages.student_id,
        wages.quarter_year,
        wages.quarter_number,
        wages.is_employed,
        -- whole years of age on the last day of the quarter (03-31, 06-30, 09-30, 12-31)
        wages.quarter_year - cast(extract(year from people.birth_date) as {{ dbt.type_int() }})
            - case
                when (case wages.quarter_number when 1 then 331 when 2 then 630 when 3 then 930 else 1231 end)
                    < cast(extract(month from people.birth_date) as {{ dbt.type_int() }}) * 100
                      + cast(extract(day from people.birth_date) as {{ dbt.type_int() }})
                then 1
                else 0
            end as age_at_quarter_end
    from wages
    inner join people
        on wages.student_id = people.student_id

),

complete_years as (

    select quarter_year
    from wages
    group by quarter_year
    having count(distinct quarter_number) = 4

),

person_years as (

    select
        aged.student_id,
        aged.quarter_year,
        count(*) as quarters_in_records,
        sum(case when aged.is_employed then 1 else 0 end) as quarters_employed
    from aged
    inner join complete_years
        on aged.quarter_year = complete_years.quarter_year
    where aged.age_at_quarter_end between 18 and 24
    group by aged.student_id, aged.quarter_year

),

joined as (

    select

        ---------- ids
        person_years.student_id,
        cast(person_years.quarter_year as {{ dbt.type_string() }}) as period,
        person_years.quarter_year as calendar_year,

        ---------- outcome
        person_years.quarters_in_records,
        person_years.quarters_employed,
        person_years.quarters_employed > 0 as is_employed_in_year,

        ---------- demographics (latest enrollment record)
        people.last_school_name,
        people.race_ethnicity,
        people.gender,
        people.econ_disadvantaged,
        people.english_learner,
        people.special_education

    from person_years
    inner join people
        on person_years.student_id = people.student_id

),

final as (

    select * from joined

)

select * from final
