with

source as (

    select * from {{ source('stripe', 'events') }}

),

renamed as (

    select
        id as event_id,
        type as event_type,
        object_type,
        object_id,
        api_version,
        _received_via as received_via,
        to_timestamp(created) as created_at

    from source

)

select * from renamed
