with papers as (
    select * from {{ ref('papers') }}
),

by_org as (
    select
        org_handle,
        mode(org_name) as org_name,
        {{ code_status_counts() }}
    from papers
    where org_handle is not null
    group by org_handle
),

final as (
    select
        org_handle,
        org_name,
        {{ code_status_rates() }}
    from by_org
)

select * from final
