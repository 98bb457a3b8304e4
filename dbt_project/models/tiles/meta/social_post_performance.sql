with

posts as (

    select * from {{ ref('int_meta__posts_unioned') }}

),

final as (

    select
        post_id,
        platform,
        post_type,
        published_at,
        published_date,
        cast(reach as bigint) as reach,
        cast(views as bigint) as views,
        cast(likes as bigint) as likes,
        cast(comments as bigint) as comments,
        cast(shares as bigint) as shares,
        cast(saves as bigint) as saves,
        cast(engagements as bigint) as engagements,
        {{ meta_engagement_rate('engagements', 'reach') }} as engagement_rate,
        insights_fetched_at as values_as_of,
        cast(date_diff('hour', published_at, insights_fetched_at) as bigint) as post_age_hours_at_read

    from posts

)

select * from final
