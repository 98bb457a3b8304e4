with

source as (

    select * from {{ source('stripe', 'balance_transactions') }}

),

renamed as (

    select
        id as balance_transaction_id,
        type as transaction_type,
        reporting_category,
        source as source_id,
        status,
        lower(currency) as currency,
        amount as amount_minor,
        fee as fee_minor,
        net as net_minor,
        description,
        to_timestamp(created) as created_at,
        to_timestamp(available_on) as available_on_at

    from source

)

select * from renamed
