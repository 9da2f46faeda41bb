-- One row per paper. paper_id is the resolved identity (int_paper_sightings): the arXiv id
-- when one is known, else the title hash; text and API sightings of one paper count together.
-- Each attribute comes from one sighting, picked in one hash aggregate (no window functions):
-- the latest sighting that has the attribute (arg_max skips nulls), and for the code link the
-- latest among those with the strongest code status, null or not (arg_max_null). A sighting's
-- place in time is (dump_date, dump_file), then its position: the higher up the page, the later.
--
-- Incremental: a daily run rebuilds only the papers whose sightings changed, instead of
-- re-aggregating every abstract ever loaded. sightings_hash fingerprints a paper's sightings:
-- which ones, every column but the abstract, and the parser version that read their dump (a
-- sighting's abstract changes only when a new parser re-reads its dump). It takes one pass
-- without the abstracts and is compared with the hash stored on the paper's row. New, changed
-- and re-resolved papers are rebuilt (delete+insert on paper_id); the post-hook removes papers
-- left with no sighting. A run whose dbt project changed since the marts were built builds the
-- table whole (`--full-refresh`, orchestration/defs/dbt.py).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='paper_id',
        on_schema_change='fail',
        post_hook="
            {% if is_incremental() %}
                delete from {{ this }} as built
                where not exists (
                    select 1 from {{ ref('int_paper_sightings') }} as sightings
                    where sightings.paper_id = built.paper_id
                )
            {% endif %}
        ",
    )
}}

-- `not materialized`: DuckDB would otherwise materialize this CTE, read twice, with every
-- abstract ever loaded; inlined, the fingerprints read no abstract at all.
with sightings as not materialized (
    select * from {{ ref('int_paper_sightings') }}
),

dumps as (
    select * from {{ ref('stg_raw__dumps') }}
),

fingerprints as (
    select
        sightings.paper_id,
        (bit_xor(hash(
            sightings.dump_id, sightings.dump_file, sightings.dump_date, sightings.entry_position,
            sightings.title_key, sightings.title, sightings.n_authors, sightings.org_handle,
            sightings.org_name, sightings.published_on, sightings.upvotes, sightings.code_url,
            sightings.code_status, sightings.code_source, sightings.arxiv_id, dumps.parser_version
        )) >> 1)::bigint as sightings_hash
    from sightings
    left join dumps
        on sightings.dump_id = dumps.dump_id and sightings.dump_file = dumps.dump_file
    group by sightings.paper_id
),

to_build as (
    select fingerprints.*
    from fingerprints
    {% if is_incremental() %}
        anti join {{ this }} as built
            on
                fingerprints.paper_id = built.paper_id
                and fingerprints.sightings_hash = built.sightings_hash
    {% endif %}
),

changed_sightings as (
    select sightings.*
    from sightings
    semi join to_build
        on sightings.paper_id = to_build.paper_id
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
    from changed_sightings
),

ranked as (
    select
        *,
        { 'strength': status_strength, 'recency': recency } as status_recency
    from ordered
),

aggregated as (
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
),

final as (
    select
        aggregated.*,
        to_build.sightings_hash
    from aggregated
    inner join to_build
        on aggregated.paper_id = to_build.paper_id
)

select * from final
