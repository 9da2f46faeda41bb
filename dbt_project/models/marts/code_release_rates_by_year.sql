with papers as (
    select * from {{ ref('papers') }}
),

classified as (
    select
        cast(extract(year from published_on) as integer) as published_year,
        code_status
    from papers
),

yearly as (
    select
        published_year,
        {{ code_status_counts() }}
    from classified
    group by published_year
),

final as (
    select
        published_year,
        {{ code_status_rates() }}
    from yearly
)

select * from final
