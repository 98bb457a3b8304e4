with

source as (

    select * from {{ source('stripe', 'charges') }}

),

renamed as (

    select
        id as charge_id,
        customer as customer_id,
        status,
        lower(currency) as currency,
        amount as amount_minor,
        amount_refunded as amount_refunded_minor,
        coalesce(refunded, false) as is_refunded,
        coalesce(disputed, false) as is_disputed,
        balance_transaction as balance_transaction_id,
        failure_code,
        to_timestamp(created) as created_at

    from source

)

select * from renamed
