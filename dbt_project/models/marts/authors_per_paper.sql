with papers as (
    select * from {{ ref('papers') }}
),

paper_authors as (
    select * from {{ ref('paper_authors') }}
),

author_lists as (
    select
        paper_id,
        list(author_name order by author_position asc) as author_names
    from paper_authors
    group by paper_id
),

final as (
    select
        papers.paper_id,
        papers.title,
        papers.published_on,
        papers.n_authors,
        author_lists.author_names
    from papers
    left join author_lists
        on papers.paper_id = author_lists.paper_id
)

select * from final
