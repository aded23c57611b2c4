{#-
    A numeric expression rounded to `places` decimals, typed double precision. Rounds half away
    from zero on every adapter; PostgreSQL has no round(double precision, int), so its default
    rounds in numeric and casts back (like the proportion macro).
-#}
{% macro round_to(expression, places=4) -%}
    {{ return(adapter.dispatch('round_to', 'backbone')(expression, places)) }}
{%- endmacro %}

{% macro default__round_to(expression, places) -%}
    cast(round(cast({{ expression }} as numeric), {{ places }}) as double precision)
{%- endmacro %}

{% macro duckdb__round_to(expression, places) -%}
    round(cast({{ expression }} as double precision), {{ places }})
{%- endmacro %}
