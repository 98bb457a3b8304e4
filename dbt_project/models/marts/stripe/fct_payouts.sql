-- One row per Stripe payout (money moving from the Stripe balance to the bank), amount in major units.
with

payouts as (

    select * from {{ ref('stg_stripe__payouts') }}

),

final as (

    select
        payout_id,
        created_at,
        cast(created_at at time zone 'UTC' as date) as created_date,
        arrival_date,
        currency,
        cast(amount_minor / {{ stripe_minor_units() }} as decimal(18, 2)) as amount,
        status,
        status in ('pending', 'in_transit') as is_upcoming,
        failure_code,
        failure_message,
        is_automatic

    from payouts

)

select * from final
