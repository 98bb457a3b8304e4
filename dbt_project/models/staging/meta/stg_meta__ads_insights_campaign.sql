with

source as (

    select * from {{ source('meta', 'ads_insights_campaign') }}

),

renamed as (

    select
        campaign_id,
        campaign_name,
        {{ meta_insights_measures() }}

    from source

)

select * from renamed
