with

source as (

    select * from {{ source('klaviyo', 'flow_messages') }}

),

renamed as (

    select
        id as flow_message_id,
        flow_action_id,
        flow_id,
        name as flow_message_name,
        channel,
        subject,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at

    from source

)

select * from renamed
