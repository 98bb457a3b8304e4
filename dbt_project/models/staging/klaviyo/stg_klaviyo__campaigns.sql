with

source as (

    select * from {{ source('klaviyo', 'campaigns') }}

),

renamed as (

    select
        id as campaign_id,
        name as campaign_name,
        status as campaign_status,
        channel,
        coalesce(archived, false) as is_archived,
        status = 'Sent' as is_sent,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,
        cast(send_time as timestamptz) as sent_at,
        cast(cast(send_time as timestamptz) at time zone 'UTC' as date) as send_date

    from source

)

select * from renamed
