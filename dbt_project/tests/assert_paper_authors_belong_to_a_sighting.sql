{{ config(meta={'dagster': {'ref': {'name': 'stg_raw__paper_authors'}}}) }}

-- Every author list must belong to a loaded sighting: same dump and same title hash.
with authors as (
    select * from {{ ref('stg_raw__paper_authors') }}
),

sightings as (
    select * from {{ ref('stg_raw__paper_sightings') }}
),

final as (
    select
        authors.dump_id,
        authors.title_key,
        authors.author_position
    from authors
    anti join sightings
        on
            authors.dump_id = sightings.dump_id
            and authors.title_key = sightings.title_key
)

select * from final
