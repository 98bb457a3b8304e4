with

source as (

    select * from {{ source('meta', 'ads_reach_country') }}

),

renamed as (

    select
        country,
        {{ meta_insights_measures() }}

    from source

)

select * from renamed
