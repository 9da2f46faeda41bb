with source as (
    select * from {{ source('raw', 'quarantined_dumps') }}
),

final as (
    select
        dump_file,
        dump_id,
        size_bytes,
        reason,
        quarantined_at,
        parser_version
    from source
)

select * from final
