{#
    The model's primary key: fails on every value of `columns` that is null or occurs more than
    once. A mart's key is also the primary key of its served table (orchestration/load/serve.py).
#}
{% test primary_key(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1 or {{ columns | join(' is null or ') }} is null

{% endtest %}
