with

source as (

    select * from {{ source('meta', 'token_status') }}

),

renamed as (

    select
        token_type,
        is_valid,
        cast(expires_at as timestamptz) as expires_at,
        cast(data_access_expires_at as timestamptz) as data_access_expires_at,
        cast(checked_at as timestamptz) as checked_at,
        warning

    from source

)

select * from renamed
