with

source as (

    select * from {{ source('stripe', 'payouts') }}

),

renamed as (

    select
        id as payout_id,
        status,
        lower(currency) as currency,
        amount as amount_minor,
        coalesce(automatic, true) as is_automatic,
        method as payout_method,
        failure_code,
        failure_message,
        balance_transaction as balance_transaction_id,
        failure_balance_transaction as failure_balance_transaction_id,
        to_timestamp(created) as created_at,
        cast(to_timestamp(arrival_date) at time zone 'UTC' as date) as arrival_date

    from source

)

select * from renamed
