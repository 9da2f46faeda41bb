with papers as (
    select * from {{ ref('papers') }}
),

classified as (
    select
        cast(date_trunc('month', first_seen_on) as date) as first_seen_month,
        code_status
    from papers
),

monthly as (
    select
        'month' as period,
        first_seen_month,
        {{ code_status_counts() }}
    from classified
    group by first_seen_month
),

whole_history as (
    select
        'all' as period,
        cast(null as date) as first_seen_month,
        {{ code_status_counts() }}
    from classified
    -- keeps the 'all' row out of an empty warehouse, like the monthly rows
    having count(*) > 0
),

combined as (
    select * from monthly
    union all
    select * from whole_history
),

final as (
    select
        period,
        first_seen_month,
        {{ code_status_rates() }}
    from combined
)

select * from final
