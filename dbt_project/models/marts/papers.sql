-- One row per paper. paper_id is the resolved identity (int_paper_sightings): the arXiv id
-- when one is known, else the title hash; text and API sightings of one paper count together.
-- Each attribute comes from one sighting, picked in one hash aggregate (no window functions):
-- the latest sighting that has the attribute (arg_max skips nulls), and for the code link the
-- latest among those with the strongest code status, null or not (arg_max_null). A sighting's
-- place in time is (dump_date, dump_file), then its position: the higher up the page, the later.
with sightings as (
    select * from {{ ref('int_paper_sightings') }}
),

ordered as (
    select
        *,
        {
            'dump_date': dump_date, 'dump_file': dump_file, 'position': -entry_position
        } as recency,
        {
            'dump_date': dump_date, 'dump_file': dump_file, 'position': entry_position
        } as earliness,
        case code_status
            when 'repository' then 4
            when 'claimed' then 3
            when 'promised' then 2
            else 1
        end as status_strength
    from sightings
),

ranked as (
    select
        *,
        { 'strength': status_strength, 'recency': recency } as status_recency
    from ordered
),

final as (
    select
        paper_id,
        -- every API sighting of the paper carries the same arXiv id (its paper_id)
        max(arxiv_id) as arxiv_id,
        arg_max(title, recency) as title,
        arg_max(abstract, recency) as abstract,
        arg_max(published_on, recency) as published_on,
        arg_max(n_authors, recency) as n_authors,
        arg_max(org_handle, recency) as org_handle,
        arg_max(org_name, recency) as org_name,
        arg_min(upvotes, earliness) as upvotes_first_seen,
        arg_max(upvotes, recency) as upvotes_latest,
        max(upvotes) as upvotes_max,
        arg_max(code_status, status_recency) as code_status,
        arg_max_null(code_url, status_recency) as code_url,
        arg_max_null(code_source, status_recency) as code_source,
        min(dump_date) as first_seen_on,
        max(dump_date) as last_seen_on,
        count(distinct dump_id) as n_dumps
    from ranked
    group by paper_id
)

select * from final
