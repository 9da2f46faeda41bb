with sightings as (
    select * from {{ ref('int_paper_sightings') }}
),

papers as (
    select * from {{ ref('papers') }}
),

ranked as (
    select
        paper_id,
        dump_date,
        dump_file,
        -- 1 = earliest sighting; same-day ties go to the smallest file name
        row_number() over (
            partition by paper_id
            order by dump_date asc, dump_file asc, entry_position asc
        ) as first_rank
    from sightings
),

first_sightings as (
    select
        paper_id,
        dump_date as first_seen_on,
        dump_file as first_seen_file
    from ranked
    where first_rank = 1
),

final as (
    select
        first_sightings.paper_id,
        first_sightings.first_seen_on,
        first_sightings.first_seen_file,
        papers.published_on,
        cast(date_diff('day', papers.published_on, first_sightings.first_seen_on) as integer) as days_to_first_seen
    from first_sightings
    inner join papers
        on first_sightings.paper_id = papers.paper_id
)

select * from final
