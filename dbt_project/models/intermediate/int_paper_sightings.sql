-- Sightings with the resolved paper identity (see int_paper_identity): a sighting with an
-- arXiv id is that paper, even when its title was revised; any other sighting takes the
-- paper its title hash resolves to. `title_key` keeps the sighting's own title hash.
-- n_authors falls back to the length of the entry's API author list when the count is missing.
with sightings as (
    select * from {{ ref('stg_raw__paper_sightings') }}
),

identity as (
    select * from {{ ref('int_paper_identity') }}
),

authors as (
    select * from {{ ref('stg_raw__paper_authors') }}
),

author_counts as (
    select
        dump_id,
        paper_id as title_key,
        count(distinct author_position) as n_listed_authors
    from authors
    group by dump_id, paper_id
),

final as (
    select
        sightings.dump_id,
        sightings.dump_file,
        sightings.dump_date,
        sightings.entry_position,
        coalesce(sightings.arxiv_id, identity.paper_id, sightings.paper_id) as paper_id,
        sightings.paper_id as title_key,
        sightings.title,
        sightings.abstract,
        coalesce(sightings.n_authors, cast(author_counts.n_listed_authors as integer)) as n_authors,
        sightings.org_handle,
        sightings.org_name,
        sightings.published_on,
        sightings.upvotes,
        sightings.urls,
        sightings.code_url,
        sightings.code_status,
        sightings.code_source,
        sightings.layout,
        sightings.arxiv_id,
        sightings.source_format,
        sightings.n_comments
    from sightings
    left join identity
        on sightings.paper_id = identity.title_key
    left join author_counts
        on
            sightings.dump_id = author_counts.dump_id
            and sightings.paper_id = author_counts.title_key
)

select * from final
