with

source as (

    select * from {{ source('klaviyo', 'events') }}

),

renamed as (

    select
        id as event_id,
        metric_id,
        metric_name,
        profile_id,
        cast(datetime as timestamptz) as occurred_at,
        event_properties ->> '$."$message"' as message_id,
        event_properties ->> '$."$flow"' as flow_id,
        coalesce(try_cast(event_properties ->> 'machine_open' as boolean), false) as is_machine_open,
        event_properties ->> 'OrderId' as order_ref,
        try_cast(event_properties ->> 'OrderId' as bigint) as order_id,
        cast(event_properties ->> '$."$value"' as decimal(18, 2)) as event_value,
        event_properties ->> '$."$attributed_message"' as attributed_message_id,
        event_properties ->> '$."$attributed_flow"' as attributed_flow_id,
        event_properties

    from source

)

select * from renamed
