{#- School codes -> school name and level, from the schools reference (sources/schools.yml, var schools). -#}
{% macro school_name(column) -%}
    {{ code_label(column, school_pairs('name')) }}
{%- endmacro %}

{% macro school_level(column) -%}
    {{ code_label(column, school_pairs('level')) }}
{%- endmacro %}

{#- [(code, school[field]), ...] in the reference's order. -#}
{% macro school_pairs(field) -%}
    {%- set pairs = [] -%}
    {%- for school in var('schools') -%}
        {%- do pairs.append((school.code, school[field])) -%}
    {%- endfor -%}
    {{ return(pairs) }}
{%- endmacro %}

{#- The school codes (of one level: 'Elementary', 'Middle', 'High'), e.g. for accepted_values tests. -#}
{% macro school_codes(level=none) -%}
    {%- set codes = [] -%}
    {%- for school in var('schools') if level is none or school.level == level -%}
        {%- do codes.append(school.code) -%}
    {%- endfor -%}
    {{ return(codes) }}
{%- endmacro %}
