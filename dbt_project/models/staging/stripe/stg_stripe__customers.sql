with

source as (

    select * from {{ source('stripe', 'customers') }}

),

renamed as (

    select
        id as customer_id,
        lower(email) as email,
        name as customer_name,
        lower(currency) as currency,
        address__country as country_code,
        try_cast(metadata__shopify_customer_id as bigint) as shopify_customer_id,
        to_timestamp(created) as created_at,
        coalesce(deleted, false) as is_deleted

    from source

)

select * from renamed
