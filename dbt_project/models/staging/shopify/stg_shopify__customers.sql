with

source as (

    select * from {{ source('shopify', 'customers') }}

),

renamed as (

    select
        cast(legacy_id as bigint) as customer_id,
        id as customer_gid,
        lower(trim(email)) as email,
        first_name,
        last_name,
        phone,
        state as account_state,
        email_marketing_state,
        coalesce(email_marketing_state = 'SUBSCRIBED', false) as accepts_marketing,
        cast(number_of_orders as integer) as reported_orders_count,
        cast(amount_spent as decimal(18, 2)) as reported_amount_spent,
        amount_spent_currency,
        default_address__city as city,
        default_address__province as province,
        default_address__country as country,
        default_address__country_code_v2 as country_code,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at

    from source

)

select * from renamed
