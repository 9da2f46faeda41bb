{{ config(meta={'dagster': {'ref': {'name': 'code_release_rates'}}}) }}

-- The single 'all' row of code_release_rates must count every paper exactly once,
-- and the monthly rows must add up to the same total.
with rates as (
    select * from {{ ref('code_release_rates') }}
),

papers as (
    select * from {{ ref('papers') }}
),

expected as (
    select count(*) as n_papers from papers
),

actual as (
    select
        count(*) filter (where period = 'all') as n_all_rows,
        coalesce(sum(n_papers) filter (where period = 'all'), 0) as n_papers_all,
        coalesce(sum(n_papers) filter (where period = 'month'), 0) as n_papers_months
    from rates
)

select
    actual.n_all_rows,
    actual.n_papers_all,
    actual.n_papers_months,
    expected.n_papers as n_papers_expected
from actual
cross join expected
where
    actual.n_papers_all != expected.n_papers
    or actual.n_papers_months != expected.n_papers
    or actual.n_all_rows != (case when expected.n_papers > 0 then 1 else 0 end)
