-- One row per Stripe subscription with its current status, currency and lifecycle timestamps.
with

subscriptions as (

    select * from {{ ref('stg_stripe__subscriptions') }}

),

final as (

    select
        subscription_id,
        customer_id,
        currency,
        status,
        is_cancel_at_period_end,
        cancellation_reason,
        created_at,
        cast(date_trunc('month', created_at at time zone 'UTC') as date) as created_month,
        trial_start_at,
        trial_end_at,
        cancel_at,
        canceled_at,
        ended_at

    from subscriptions

)

select * from final
