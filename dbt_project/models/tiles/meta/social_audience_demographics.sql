-- Shares that add up to 1 within each platform, audience and breakdown. Follower counts come from Instagram's
-- follower_demographics (Facebook removed its follower demographics, page_fans_*, in 2025); ad reach comes from one
-- 28-day report per breakdown: each cell's reach is the API's figure for that cell and period.
with

followers as (

    select * from {{ ref('stg_meta__ig_follower_demographics') }}

),

reach_age_gender as (

    select * from {{ ref('stg_meta__ads_reach_age_gender') }}

),

reach_country as (

    select * from {{ ref('stg_meta__ads_reach_country') }}

),

cells as (

    select 'instagram' as platform, 'followers' as audience, breakdown, segment, followers as people,
           cast(null as date) as period_start, cast(null as date) as period_end
    from followers

    union all

    select 'meta_ads', 'ad_reach', 'age_gender', age || ' ' || gender, reach, date_start, date_stop
    from reach_age_gender

    union all

    select 'meta_ads', 'ad_reach', 'country', country, reach, date_start, date_stop
    from reach_country

),

final as (

    select
        platform,
        audience,
        breakdown,
        segment,
        cast(people as bigint) as people,
        cast(cast(people as double) / nullif(sum(people) over (partition by platform, audience, breakdown), 0) as decimal(9, 6)) as share,
        period_start,
        period_end

    from cells

)

select * from final
