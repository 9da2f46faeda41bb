-- Sightings with the resolved paper identity (see int_paper_identity): a sighting with an
-- arXiv id is that paper, even when its title was revised; any other sighting takes the
-- paper its title hash resolves to. `title_key` keeps the sighting's own title hash.
with sightings as (
    select * from {{ ref('stg_raw__paper_sightings') }}
),

identity as (
    select * from {{ ref('int_paper_identity') }}
),

final as (
    select
        sightings.dump_id,
        sightings.dump_file,
        sightings.dump_date,
        sightings.entry_position,
        coalesce(sightings.arxiv_id, identity.paper_id, sightings.title_key) as paper_id,
        sightings.title_key,
        sightings.title,
        sightings.abstract,
        sightings.n_authors,
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
        on sightings.title_key = identity.title_key
)

select * from final
