with

source as (

    select * from {{ source('klaviyo', 'campaign_messages') }}

),

renamed as (

    select
        id as campaign_message_id,
        campaign_id,
        label as message_label,
        subject,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at

    from source

)

select * from renamed
