-- Per list/segment and day: members, growth, engaged share and suppressions, rebuilt from current members' join
-- times (Klaviyo gives no history of members who left; see DECISIONS.md#klaviyo).
with

groups as (

    select * from {{ ref('dim_email_groups') }}

),

members as (

    select * from {{ ref('fct_group_memberships') }}

),

touch_days as (

    select distinct profile_id, touch_date
    from {{ ref('fct_email_touches') }}

),

days as (

    select date_day as metric_date
    from {{ ref('dim_date') }}
    where days_before_as_of < {{ var('klaviyo_segment_health_days') }}

),

member_days as (

    select
        members.group_id,
        members.profile_id,
        days.metric_date,
        members.joined_date = days.metric_date as joined_that_day,
        coalesce(members.suppressed_date <= days.metric_date, false) as is_suppressed

    from members
    inner join days on members.joined_date <= days.metric_date

),

engagement as (

    select
        member_days.group_id,
        member_days.profile_id,
        member_days.metric_date,
        max(touch_days.touch_date) as last_touch_date

    from member_days
    inner join touch_days
        on member_days.profile_id = touch_days.profile_id
        and touch_days.touch_date <= member_days.metric_date
        -- Windows include their first day (DECISIONS.md#windows-and-periods).
        and touch_days.touch_date >= member_days.metric_date - {{ var('klaviyo_engaged_days_long') }}
    group by 1, 2, 3

),

daily as (

    select
        member_days.group_id,
        member_days.metric_date,
        count(*) as profile_count,
        count(*) filter (where member_days.joined_that_day) as new_members,
        count(engagement.last_touch_date) filter (
            where engagement.last_touch_date >= member_days.metric_date - {{ var('klaviyo_engaged_days_short') }}
        ) as engaged_30d_profiles,
        count(engagement.last_touch_date) as engaged_90d_profiles,
        count(*) filter (where member_days.is_suppressed) as suppressed_profiles

    from member_days
    left join engagement
        on member_days.group_id = engagement.group_id
        and member_days.profile_id = engagement.profile_id
        and member_days.metric_date = engagement.metric_date
    group by 1, 2

),

spine as (

    select groups.group_id, groups.group_type, groups.group_name, days.metric_date
    from groups
    cross join days

),

final as (

    select
        spine.group_id,
        spine.group_type,
        spine.group_name,
        spine.metric_date,
        cast(coalesce(daily.profile_count, 0) as integer) as profile_count,
        cast(coalesce(daily.new_members, 0) as integer) as new_members,
        cast(daily.new_members / nullif(daily.profile_count - daily.new_members, 0) as decimal(9, 4)) as growth_rate,
        cast(coalesce(daily.engaged_30d_profiles, 0) as integer) as engaged_30d_profiles,
        cast(daily.engaged_30d_profiles / nullif(daily.profile_count, 0) as decimal(9, 4)) as engaged_30d_share,
        cast(coalesce(daily.engaged_90d_profiles, 0) as integer) as engaged_90d_profiles,
        cast(daily.engaged_90d_profiles / nullif(daily.profile_count, 0) as decimal(9, 4)) as engaged_90d_share,
        cast(coalesce(daily.suppressed_profiles, 0) as integer) as suppressed_profiles

    from spine
    left join daily on spine.group_id = daily.group_id and spine.metric_date = daily.metric_date

)

select * from final
