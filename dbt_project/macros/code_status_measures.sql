{#- The status counts and rates shared by every code-release grain. -#}

{% macro code_status_counts() -%}
    count(*) as n_papers,
    count(*) filter (where code_status = 'repository') as n_repository,
    count(*) filter (where code_status = 'claimed') as n_claimed,
    count(*) filter (where code_status = 'promised') as n_promised,
    count(*) filter (where code_status = 'none') as n_none
{%- endmacro %}

{% macro code_status_rates() -%}
    n_papers,
    n_repository,
    n_claimed,
    n_promised,
    n_none,
    cast(n_repository + n_claimed as double) / n_papers as code_release_rate,
    cast(n_repository as double) / n_papers as repository_rate,
    cast(n_promised as double) / n_papers as promise_rate
{%- endmacro %}
