-- One row per paper and author, in author order, from the paper's latest API sighting that
-- lists authors ("latest" as everywhere: dump_date desc, dump_file desc, entry_position asc).
with sightings as (
    select * from {{ ref('int_paper_sightings') }}
),

authors as (
    select * from {{ ref('stg_raw__paper_authors') }}
),

listed_entries as (
    -- raw.paper_authors keys an author list by dump and title hash
    select distinct
        dump_id,
        title_key
    from authors
),

ranked_entries as (
    select
        sightings.paper_id,
        sightings.dump_id,
        sightings.title_key,
        -- 1 = the paper's latest sighting that lists authors
        row_number() over (
            partition by sightings.paper_id
            order by sightings.dump_date desc, sightings.dump_file desc, sightings.entry_position asc
        ) as recency_rank
    from sightings
    inner join listed_entries
        on
            sightings.dump_id = listed_entries.dump_id
            and sightings.title_key = listed_entries.title_key
),

chosen_authors as (
    select
        ranked_entries.paper_id,
        authors.author_position,
        authors.author_name,
        -- one name per position, should a dump carry the same title twice
        row_number() over (
            partition by ranked_entries.paper_id, authors.author_position
            order by authors.author_name asc
        ) as name_rank
    from ranked_entries
    inner join authors
        on
            ranked_entries.dump_id = authors.dump_id
            and ranked_entries.title_key = authors.title_key
    where ranked_entries.recency_rank = 1
),

final as (
    select
        paper_id,
        author_position,
        author_name
    from chosen_authors
    where name_rank = 1
)

select * from final
