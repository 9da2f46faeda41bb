with source as (
    select * from {{ source('raw', 'paper_authors') }}
),

final as (
    select
        dump_id,
        title_key,
        author_position,
        trim(author_name) as author_name
    from source
)

select * from final
