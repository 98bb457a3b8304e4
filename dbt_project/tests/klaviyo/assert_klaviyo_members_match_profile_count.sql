-- Reconciliation: Klaviyo's own profile_count (latest snapshot) equals the members we extracted per list/segment.
with latest as (

    select group_id, profile_count
    from {{ ref('stg_klaviyo__group_profile_counts') }}
    qualify row_number() over (partition by group_id order by taken_at desc) = 1

),

members as (

    select group_id, count(*) as members
    from {{ ref('stg_klaviyo__group_members') }}
    group by group_id

)

select latest.group_id, latest.profile_count, coalesce(members.members, 0) as members
from latest
left join members on latest.group_id = members.group_id
where latest.profile_count != coalesce(members.members, 0)
