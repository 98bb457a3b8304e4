-- One row per Facebook post and Instagram post, reel or story, in one shape. Engagements are the platform's own sum
-- of interactions: reactions + comments + shares on Facebook, total_interactions (likes + comments + saves + shares,
-- replies + shares for stories) on Instagram.
with

page_posts as (

    select * from {{ ref('stg_meta__page_posts') }}

),

ig_media as (

    select * from {{ ref('stg_meta__ig_media') }}

),

facebook as (

    select
        post_id,
        'facebook' as platform,
        coalesce(status_type, 'post') as post_type,
        published_at,
        published_date,
        reach,
        views,
        reactions as likes,
        comments,
        shares,
        cast(null as bigint) as saves,
        reactions + comments + shares as engagements,
        insights_fetched_at

    from page_posts

),

instagram as (

    select
        media_id as post_id,
        'instagram' as platform,
        case when is_story then 'story' when media_product_type = 'REELS' then 'reel' else lower(media_type) end as post_type,
        published_at,
        published_date,
        reach,
        views,
        likes,
        comments,
        shares,
        saves,
        total_interactions as engagements,
        insights_fetched_at

    from ig_media

),

final as (

    select * from facebook
    union all
    select * from instagram

)

select * from final
