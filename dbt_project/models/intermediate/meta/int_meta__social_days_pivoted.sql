-- One row per platform and day: the account's own daily metrics side by side. Instagram reports new follows, not a
-- follower total, so its total at the end of a day is the current count minus the net follows of the later days.
with

page_metrics as (

    select * from {{ ref('stg_meta__page_insights') }}

),

ig_metrics as (

    select * from {{ ref('stg_meta__ig_insights') }}

),

ig_account as (

    select * from {{ ref('stg_meta__ig_account') }}

),

facebook_days as (

    select
        'facebook' as platform,
        metric_date,
        max(case when metric = 'page_follows' then metric_value end) as followers,
        max(case when metric = 'page_daily_follows_unique' then metric_value end) as follows,
        max(case when metric = 'page_daily_unfollows_unique' then metric_value end) as unfollows,
        max(case when metric = 'page_post_engagements' then metric_value end) as engagements,
        max(case when metric = 'page_total_media_view_unique' then metric_value end) as reach,
        max(case when metric = 'page_media_view' then metric_value end) as views

    from page_metrics
    group by metric_date

),

instagram_metrics as (

    select
        metric_date,
        max(case when metric = 'follows' then metric_value end) as follows,
        max(case when metric = 'unfollows' then metric_value end) as unfollows,
        max(case when metric = 'total_interactions' then metric_value end) as engagements,
        max(case when metric = 'reach' then metric_value end) as reach,
        max(case when metric = 'views' then metric_value end) as views

    from ig_metrics
    group by metric_date

),

instagram_days as (

    select
        'instagram' as platform,
        instagram_metrics.metric_date,
        (select max(followers_count) from ig_account)
            - coalesce(sum(coalesce(follows, 0) - coalesce(unfollows, 0)) over (
                order by instagram_metrics.metric_date rows between 1 following and unbounded following
            ), 0) as followers,
        follows,
        unfollows,
        engagements,
        reach,
        views

    from instagram_metrics

),

final as (

    select * from facebook_days
    union all
    select * from instagram_days

)

select * from final
