-- One row per paper. paper_id is the resolved identity (int_paper_sightings): the arXiv id
-- when one is known, else the title hash; text and API sightings of one paper count together.
with sightings as (
    select * from {{ ref('int_paper_sightings') }}
),

ranked as (
    select
        *,
        case code_status
            when 'repository' then 4
            when 'claimed' then 3
            when 'promised' then 2
            else 1
        end as status_strength,
        -- 1 = the paper's latest sighting
        row_number() over (
            partition by paper_id
            order by dump_date desc, dump_file desc, entry_position asc
        ) as recency_rank,
        -- 1 = the paper's earliest sighting (same order as paper_first_seen)
        row_number() over (
            partition by paper_id
            order by dump_date asc, dump_file asc, entry_position asc
        ) as earliness_rank
    from sightings
),

status_ranked as (
    select
        *,
        -- 1 = the latest sighting among those with the strongest status
        row_number() over (
            partition by paper_id
            order by status_strength desc, recency_rank asc
        ) as status_rank
    from ranked
),

final as (
    select
        paper_id,
        -- every API sighting of the paper carries the same arXiv id (its paper_id)
        max(arxiv_id) as arxiv_id,
        max(title) filter (where recency_rank = 1) as title,
        arg_min(abstract, recency_rank) filter (where abstract is not null) as abstract,
        arg_min(published_on, recency_rank) filter (where published_on is not null) as published_on,
        arg_min(n_authors, recency_rank) filter (where n_authors is not null) as n_authors,
        arg_min(org_handle, recency_rank) filter (where org_handle is not null) as org_handle,
        arg_min(org_name, recency_rank) filter (where org_name is not null) as org_name,
        arg_min(upvotes, earliness_rank) filter (where upvotes is not null) as upvotes_first_seen,
        arg_min(upvotes, recency_rank) filter (where upvotes is not null) as upvotes_latest,
        max(upvotes) as upvotes_max,
        max(code_status) filter (where status_rank = 1) as code_status,
        max(code_url) filter (where status_rank = 1) as code_url,
        max(code_source) filter (where status_rank = 1) as code_source,
        min(dump_date) as first_seen_on,
        max(dump_date) as last_seen_on,
        count(distinct dump_id) as n_dumps
    from status_ranked
    group by paper_id
)

select * from final
