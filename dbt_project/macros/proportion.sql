{#-
    numerator / denominator as a proportion rounded to `places` decimals, typed double precision;
    NULL when the denominator is 0. Rounds half away from zero on every adapter.
    PostgreSQL has no round(double precision, int), so its default rounds in numeric and casts back.
-#}
{% macro proportion(numerator, denominator, places=4) -%}
    {{ return(adapter.dispatch('proportion', 'backbone')(numerator, denominator, places)) }}
{%- endmacro %}

{% macro default__proportion(numerator, denominator, places) -%}
    cast(round(cast({{ numerator }} as numeric) / nullif({{ denominator }}, 0), {{ places }}) as double precision)
{%- endmacro %}

{% macro duckdb__proportion(numerator, denominator, places) -%}
    round(cast({{ numerator }} as double precision) / nullif({{ denominator }}, 0), {{ places }})
{%- endmacro %}
