with

source as (

    select * from {{ source('meta', 'ads_insights') }}

),

renamed as (

    select
        campaign_id,
        campaign_name,
        ad_id,
        ad_name,
        adset_id,
        {{ meta_insights_measures() }}

    from source

)

select * from renamed
