{#
    The model's primary key: fails on every value of `columns` that is null or occurs more than
    once. orchestration/load/serve.py takes these columns as the key of the served table.
#}
{% test primary_key(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1 or {{ columns | join(' is null or ') }} is null

{% endtest %}
