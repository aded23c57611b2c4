{#-
    No published cell has a denominator under the minimum cell size (var min_cell_size), and a
    suppressed cell shows no count and no value.
-#}
{% test no_visible_small_cells(model, min_cell_size=none) %}

{%- set min_size = min_cell_size if min_cell_size is not none else var('min_cell_size') %}

select *
from {{ model }}
where (not suppressed and denominator < {{ min_size }})
   or (suppressed and (value is not null or numerator is not null or denominator is not null))

{% endtest %}
