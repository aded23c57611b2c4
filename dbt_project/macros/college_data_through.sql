{#-
    A select returning one row, one column `data_through`: the latest date in Riverbend College's
    accepted records (term enrollment dates and award dates). The college sends everything to date,
    so a follow-up window that ends on or before this date is complete; NULL when the college has
    sent nothing. Used by the postsecondary indicators to publish only cohorts whose window closed.
-#}
{% macro college_data_through() -%}
    select max(latest_date) as data_through
    from (
        select max(enrollment_date) as latest_date from {{ ref('stg_riverbend_college__postsecondary_enrollment') }}
        union all
        select max(award_date) as latest_date from {{ ref('stg_riverbend_college__completion') }}
    ) as college_dates
{%- endmacro %}
