with

payouts as (

    select * from {{ ref('stg_stripe__payouts') }}

),

final as (

    select
        payout_id,
        cast(created_at at time zone 'UTC' as date) as created_date,
        arrival_date,
        currency,
        cast(amount_cents / {{ stripe_minor_units() }} as decimal(18, 2)) as amount,
        status,
        status in ('pending', 'in_transit') as is_upcoming,
        cast(case when status in ('pending', 'in_transit') then arrival_date - {{ as_of_date() }} end as integer) as days_until_arrival,
        failure_code,
        failure_message,
        is_automatic

    from payouts
    where cast(created_at at time zone 'UTC' as date) <= {{ as_of_date() }}

)

select * from final
