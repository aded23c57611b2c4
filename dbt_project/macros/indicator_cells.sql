{#-
    The unsuppressed cells of a proportion indicator, from a relation with one row per person and period:
    for the community (geography_level 'community', geography var community_geography) and, when
    `school_column` is given, for every school (geography_level 'school', geography = the column's
    value), one 'all_students' cell per period plus one cell per non-null value of each breakdown
    column (dimension = the column name, group_value = its value). A person with no value in a
    breakdown still counts in 'All students'; a person with no school counts in the community only.
    Columns: indicator_id, period, geography_level, geography, dimension, group_value, numerator,
    denominator, value.

      indicator_id         text identifier of the indicator
      relation             relation or CTE name, one row per person counted in the denominator
      period_column        column holding the period (e.g. school_year)
      numerator_condition  boolean SQL expression: the person counts in the numerator
      breakdowns           list of column names to break the indicator down by
      school_column        column holding the school name, or none for no school geographies

    One GROUPING SETS pass over the relation (DuckDB and PostgreSQL both support it), so a large
    population is scanned once per indicator, not once per cell kind. grouping(c) is 0 when the
    set groups by c.
-#}
{% macro indicator_cells(indicator_id, relation, period_column, numerator_condition, breakdowns=[], school_column=none) -%}
    {%- set geographies = [none] + ([school_column] if school_column is not none else []) -%}
    {%- set breakdown_sets = [none] + breakdowns -%}
    select
        cast('{{ indicator_id }}' as {{ dbt.type_string() }}) as indicator_id,
        cast(period as {{ dbt.type_string() }}) as period,
        cast(case when school_grouped = 0 then 'school' else 'community' end as {{ dbt.type_string() }}) as geography_level,
        cast(case when school_grouped = 0 then school else '{{ var("community_geography") }}' end as {{ dbt.type_string() }}) as geography,
        cast(case
            {%- for column in breakdowns %}
            when grouped_{{ loop.index }} = 0 then '{{ column }}'
            {%- endfor %}
            else 'all_students'
        end as {{ dbt.type_string() }}) as dimension,
        cast(case
            {%- for column in breakdowns %}
            when grouped_{{ loop.index }} = 0 then breakdown_{{ loop.index }}
            {%- endfor %}
            else 'All students'
        end as {{ dbt.type_string() }}) as group_value,
        numerator,
        denominator,
        {{ proportion('numerator', 'denominator') }} as value
    from (
        select
            {{ period_column }} as period,
            {% if school_column is not none -%}
            {{ school_column }} as school,
            grouping({{ school_column }}) as school_grouped,
            {%- else -%}
            cast(null as {{ dbt.type_string() }}) as school,
            1 as school_grouped,
            {%- endif %}
            {%- for column in breakdowns %}
            cast({{ column }} as {{ dbt.type_string() }}) as breakdown_{{ loop.index }},
            grouping({{ column }}) as grouped_{{ loop.index }},
            {%- endfor %}
            count(case when {{ numerator_condition }} then 1 end) as numerator,
            count(*) as denominator
        from {{ relation }}
        group by grouping sets (
            {%- for geography in geographies %}
            {%- set outer_last = loop.last %}
            {%- for breakdown in breakdown_sets %}
            ({{ period_column }}{% if geography is not none %}, {{ geography }}{% endif %}{% if breakdown is not none %}, {{ breakdown }}{% endif %}){% if not (outer_last and loop.last) %},{% endif %}
            {%- endfor %}
            {%- endfor %}
        )
    ) as grouped
    -- a grouping set's NULL group is people without that attribute, not a group to publish
    where (school_grouped = 1 or school is not null)
    {%- for column in breakdowns %}
      and (grouped_{{ loop.index }} = 1 or breakdown_{{ loop.index }} is not null)
    {%- endfor %}
{%- endmacro %}
