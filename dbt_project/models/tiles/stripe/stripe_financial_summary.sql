with

balance_transactions as (

    select * from {{ ref('stg_stripe__balance_transactions') }}

),

daily as (

    select
        cast(created_at at time zone 'UTC' as date) as transaction_date,
        currency,
        sum(case when transaction_type in ('charge', 'payment') then amount_cents else 0 end) as gross_volume_cents,
        -sum(case when transaction_type in ('refund', 'payment_refund', 'payment_failure_refund') then amount_cents else 0 end) as refunds_cents,
        -sum(case when reporting_category in ('dispute', 'dispute_reversal') then amount_cents else 0 end) as dispute_losses_cents,
        sum(case when reporting_category not in ('payout', 'payout_reversal') then fee_cents else 0 end) as fees_cents,
        sum(case when reporting_category not in ('payout', 'payout_reversal') then net_cents else 0 end) as net_cents,
        -sum(case when reporting_category in ('payout', 'payout_reversal') then amount_cents else 0 end) as payouts_cents,
        count(*) filter (where transaction_type in ('charge', 'payment')) as charges_count

    from balance_transactions
    where cast(created_at at time zone 'UTC' as date) <= {{ as_of_date() }}
    group by 1, 2

),

bounds as (

    select currency, min(transaction_date) as first_date
    from daily
    group by 1

),

grid as (

    select bounds.currency, cast(day as date) as transaction_date
    from bounds,
        range(cast(bounds.first_date as timestamp), cast({{ as_of_date() }} as timestamp) + interval 1 day, interval 1 day) as days(day)

),

joined as (

    select
        grid.transaction_date,
        grid.currency,
        coalesce(daily.gross_volume_cents, 0) as gross_volume_cents,
        coalesce(daily.refunds_cents, 0) as refunds_cents,
        coalesce(daily.dispute_losses_cents, 0) as dispute_losses_cents,
        coalesce(daily.fees_cents, 0) as fees_cents,
        coalesce(daily.net_cents, 0) as net_cents,
        coalesce(daily.payouts_cents, 0) as payouts_cents,
        coalesce(daily.charges_count, 0) as charges_count

    from grid
    left join daily on grid.currency = daily.currency and grid.transaction_date = daily.transaction_date

),

final as (

    select
        transaction_date,
        currency,
        {%- for column in ['gross_volume', 'refunds', 'dispute_losses', 'fees', 'net', 'payouts'] %}
        cast({{ column }}_cents / {{ stripe_minor_units() }} as decimal(18, 2)) as {{ 'stripe_fees' if column == 'fees' else column }},
        {%- endfor %}
        cast(charges_count as integer) as charges_count

    from joined

)

select * from final
