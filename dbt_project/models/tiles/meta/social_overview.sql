with

days as (

    select * from {{ ref('fct_meta__social_days') }}

),

final as (

    select
        metric_date,
        platform,
        cast(followers as bigint) as followers,
        cast(net_follows as bigint) as net_follows,
        cast(follows as bigint) as follows,
        cast(unfollows as bigint) as unfollows,
        cast(posts as bigint) as posts,
        cast(engagements as bigint) as engagements,
        cast(reach as bigint) as reach,
        {{ meta_engagement_rate('engagements', 'reach') }} as engagement_rate,
        cast(views as bigint) as views

    from days
    where metric_date <= {{ as_of_date() }}

)

select * from final
