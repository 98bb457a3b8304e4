-- One row per current member of a Klaviyo list or segment: when they joined, and when the profile was first globally
-- suppressed (null if never). Klaviyo keeps no history of members who left.
with

members as (

    select * from {{ ref('stg_klaviyo__group_members') }}

),

profiles as (

    select profile_id, suppressed_at from {{ ref('stg_klaviyo__profiles') }}

),

final as (

    select
        members.group_id,
        members.profile_id,
        members.joined_at,
        cast(members.joined_at at time zone 'UTC' as date) as joined_date,
        profiles.suppressed_at,
        cast(profiles.suppressed_at at time zone 'UTC' as date) as suppressed_date

    from members
    left join profiles on members.profile_id = profiles.profile_id

)

select * from final
