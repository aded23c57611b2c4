{#-
    The unsuppressed cells of a proportion indicator, from a relation with one row per person and period:
    one 'all_students' cell per period, plus one cell per non-null value of each breakdown column
    (dimension = the column name, group_value = its value; people with no value in a breakdown
    still count in 'All students').
    Columns: indicator_id, period, geography, dimension, group_value, numerator, denominator, value.

      indicator_id    text identifier of the indicator
      relation        relation or CTE name, one row per person counted in the denominator
      period_column   column holding the period (e.g. school_year)
      numerator_condition  boolean SQL expression: the person counts in the numerator
      breakdowns      list of column names to break the indicator down by
      geography       geography value (default: var community_geography)
-#}
{% macro indicator_cells(indicator_id, relation, period_column, numerator_condition, breakdowns=[], geography=none) -%}
    {%- set geography_value = geography if geography is not none else var('community_geography') -%}
    {%- set groupings = [('all_students', "'All students'")] -%}
    {%- for column in breakdowns -%}
        {%- do groupings.append((column, column)) -%}
    {%- endfor -%}
    select
        indicator_id,
        period,
        geography,
        dimension,
        group_value,
        numerator,
        denominator,
        {{ proportion('numerator', 'denominator') }} as value
    from (
        {%- for dimension, group_expression in groupings %}
        select
            cast('{{ indicator_id }}' as {{ dbt.type_string() }}) as indicator_id,
            cast({{ period_column }} as {{ dbt.type_string() }}) as period,
            cast('{{ geography_value }}' as {{ dbt.type_string() }}) as geography,
            cast('{{ dimension }}' as {{ dbt.type_string() }}) as dimension,
            cast({{ group_expression }} as {{ dbt.type_string() }}) as group_value,
            count(case when {{ numerator_condition }} then 1 end) as numerator,
            count(*) as denominator
        from {{ relation }}
        {%- if dimension != 'all_students' %}
        where {{ group_expression }} is not null
        {%- endif %}
        group by {{ period_column }}{% if dimension != 'all_students' %}, {{ group_expression }}{% endif %}
        {% if not loop.last %}union all{% endif %}
        {%- endfor %}
    ) as cells
{%- endmacro %}
