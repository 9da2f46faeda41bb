{#
    Fails on every non-null value of `column_name` outside [min_value, max_value]
    (inclusive; either bound may be omitted). Nulls pass; combine with not_null.
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
{%- set lower_bound = min_value if min_value is not none else 'null' -%}
{%- set upper_bound = max_value if max_value is not none else 'null' -%}

select {{ column_name }} as out_of_range_value
from {{ model }}
where
    {{ column_name }} < coalesce({{ lower_bound }}, {{ column_name }})
    or {{ column_name }} > coalesce({{ upper_bound }}, {{ column_name }})

{% endtest %}
