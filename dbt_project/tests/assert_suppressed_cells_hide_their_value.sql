-- A suppressed cell hides its numerator, denominator and value; a published cell shows all three.
select *
from {{ ref('indicator_values') }}
where (suppressed and (numerator is not null or denominator is not null or value is not null))
   or (not suppressed and (numerator is null or denominator is null or value is null))
