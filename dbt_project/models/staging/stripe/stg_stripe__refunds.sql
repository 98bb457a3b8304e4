with

source as (

    select * from {{ source('stripe', 'refunds') }}

),

renamed as (

    select
        id as refund_id,
        charge as charge_id,
        status,
        reason,
        lower(currency) as currency,
        amount as amount_minor,
        balance_transaction as balance_transaction_id,
        to_timestamp(created) as created_at

    from source

)

select * from renamed
