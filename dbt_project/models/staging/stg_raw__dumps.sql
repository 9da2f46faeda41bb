with source as (
    select * from {{ source('raw', 'dumps') }}
),

final as (
    select
        dump_id,
        dump_file,
        dump_date,
        size_bytes,
        n_entries,
        n_rejected,
        loaded_at,
        parser_version,
        is_current,
        duplicate_of,
        duplicate_of is not null as is_duplicate
    from source
)

select * from final
