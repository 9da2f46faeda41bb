{#
    Fails on every row of the model for which `expression` is not true
    (false or null). A local stand-in for dbt_utils.expression_is_true.
#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
