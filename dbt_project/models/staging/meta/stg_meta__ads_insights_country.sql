with

source as (

    select * from {{ source('meta', 'ads_insights_country') }}

),

renamed as (

    select
        campaign_id,
        campaign_name,
        country,
        {{ meta_insights_measures() }}

    from source

)

select * from renamed
