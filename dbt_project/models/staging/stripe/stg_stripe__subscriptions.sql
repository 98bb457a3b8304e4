with

source as (

    select * from {{ source('stripe', 'subscriptions') }}

),

renamed as (

    select
        id as subscription_id,
        customer as customer_id,
        lower(currency) as currency,
        status,
        coalesce(cancel_at_period_end, false) as is_cancel_at_period_end,
        cancellation_details__reason as cancellation_reason,
        to_timestamp(created) as created_at,
        to_timestamp(trial_start) as trial_start_at,
        to_timestamp(trial_end) as trial_end_at,
        to_timestamp(cancel_at) as cancel_at,
        to_timestamp(canceled_at) as canceled_at,
        to_timestamp(ended_at) as ended_at

    from source

)

select * from renamed
