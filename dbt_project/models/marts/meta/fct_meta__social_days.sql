with

days as (

    select * from {{ ref('int_meta__social_days_pivoted') }}

),

posts as (

    select * from {{ ref('int_meta__posts_unioned') }}

),

posts_per_day as (

    select platform, published_date, count(*) as posts
    from posts
    where post_type != 'story'
    group by platform, published_date

),

final as (

    select
        days.platform,
        days.metric_date,
        days.followers,
        days.follows,
        days.unfollows,
        coalesce(days.follows, 0) - coalesce(days.unfollows, 0) as net_follows,
        coalesce(posts_per_day.posts, 0) as posts,
        days.engagements,
        days.reach,
        days.views

    from days
    left join posts_per_day
        on days.platform = posts_per_day.platform
        and days.metric_date = posts_per_day.published_date

)

select * from final
