-- One row per paper per day it was seen in any dump (text or API). upvotes is the highest
-- count shown that day, null when no dump of that day showed one.
with sightings as (
    select * from {{ ref('int_paper_sightings') }}
),

final as (
    select
        paper_id,
        dump_date as seen_on,
        max(upvotes) as upvotes,
        count(*) as n_sightings
    from sightings
    group by paper_id, dump_date
)

select * from final
