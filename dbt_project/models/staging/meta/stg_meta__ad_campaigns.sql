with

source as (

    select * from {{ source('meta', 'ad_campaigns') }}

),

renamed as (

    select
        id as campaign_id,
        name as campaign_name,
        objective,
        status as campaign_status,
        cast(start_time as timestamptz) as started_at,
        cast(stop_time as timestamptz) as stops_at

    from source

)

select * from renamed
