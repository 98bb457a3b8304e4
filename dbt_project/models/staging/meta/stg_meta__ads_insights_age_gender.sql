with

source as (

    select * from {{ source('meta', 'ads_insights_age_gender') }}

),

renamed as (

    select
        campaign_id,
        campaign_name,
        age,
        gender,
        {{ meta_insights_measures() }}

    from source

)

select * from renamed
