{#-
    No published cell has a denominator under the minimum cell size (var min_cell_size) or a numerator
    or complement (denominator - numerator) of 1 to under it, and a suppressed cell shows no count and
    no value.
-#}
{% test no_visible_small_cells(model, min_cell_size=none) %}

{%- set min_size = min_cell_size if min_cell_size is not none else var('min_cell_size') %}

select *
from {{ model }}
where (
        not suppressed
        and (
            denominator < {{ min_size }}
            or numerator between 1 and {{ min_size - 1 }}
            or denominator - numerator between 1 and {{ min_size - 1 }}
        )
    )
   or (suppressed and (value is not null or numerator is not null or denominator is not null))

{% endtest %}
