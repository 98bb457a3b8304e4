with

source as (

    select * from {{ source('meta', 'ads_reach_age_gender') }}

),

renamed as (

    select
        age,
        gender,
        {{ meta_insights_measures() }}

    from source

)

select * from renamed
