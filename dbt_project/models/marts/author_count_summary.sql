with authors_per_paper as (
    select * from {{ ref('authors_per_paper') }}
),

with_year as (
    select
        cast(extract(year from published_on) as integer) as published_year,
        n_authors
    from authors_per_paper
),

final as (
    select
        published_year,
        count(*) as n_papers,
        count(n_authors) as n_papers_with_count,
        cast(avg(n_authors) as double) as mean_authors,
        cast(quantile_cont(n_authors, 0.5) as double) as median_authors,
        cast(quantile_cont(n_authors, 0.9) as double) as p90_authors
    from with_year
    group by published_year
)

select * from final
