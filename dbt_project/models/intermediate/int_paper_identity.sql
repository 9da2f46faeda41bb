-- Paper identity. When an arXiv id is known, it identifies the paper; text-dump sightings
-- (no arXiv id) with the same normalised title (title hash) are matched to it, so a paper seen
-- first in a text dump and later in the API keeps one row in `papers`.
-- One row per title hash: the paper_id that sightings without an arXiv id resolve to, i.e.
-- the arXiv id seen with that title hash, else the title hash itself. Several arXiv ids with
-- one title hash: the one first seen (earliest dump_date) wins, ties by the smallest id.
-- Sightings that carry an arXiv id always keep their own (see int_paper_sightings).
with sightings as (
    select * from {{ ref('stg_raw__paper_sightings') }}
),

title_keys as (
    select distinct title_key
    from sightings
),

arxiv_ids_per_title as (
    select
        title_key,
        arxiv_id,
        min(dump_date) as first_seen_on
    from sightings
    where arxiv_id is not null
    group by title_key, arxiv_id
),

ranked_arxiv_ids as (
    select
        title_key,
        arxiv_id,
        count(*) over (partition by title_key) as n_arxiv_ids,
        -- 1 = the arXiv id first seen with this title; same-day ties go to the smallest id
        row_number() over (
            partition by title_key
            order by first_seen_on asc, arxiv_id asc
        ) as arxiv_rank
    from arxiv_ids_per_title
),

final as (
    select
        title_keys.title_key,
        coalesce(ranked_arxiv_ids.arxiv_id, title_keys.title_key) as paper_id,
        ranked_arxiv_ids.arxiv_id,
        coalesce(ranked_arxiv_ids.n_arxiv_ids, 0) as n_arxiv_ids
    from title_keys
    left join ranked_arxiv_ids
        on
            title_keys.title_key = ranked_arxiv_ids.title_key
            and ranked_arxiv_ids.arxiv_rank = 1
)

select * from final
