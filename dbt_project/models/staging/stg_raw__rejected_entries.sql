with source as (
    select * from {{ source('raw', 'rejected_entries') }}
),

final as (
    select
        dump_id,
        dump_file,
        position as entry_position,
        line_number,
        reason,
        raw_text
    from source
)

select * from final
