-- One row per Stripe balance transaction (payments, refunds, disputes, fees, payouts): the ledger Stripe pays out
-- from, with the categories the financial summary adds up. Amounts in the currency's minor unit (as Stripe sends them)
-- and in major units.
with

balance_transactions as (

    select * from {{ ref('stg_stripe__balance_transactions') }}

),

final as (

    select
        balance_transaction_id,
        transaction_type,
        reporting_category,
        source_id,
        currency,
        created_at,
        cast(created_at at time zone 'UTC' as date) as transaction_date,
        transaction_type in ('charge', 'payment') as is_payment,
        transaction_type in ('refund', 'payment_refund', 'payment_failure_refund') as is_refund,
        reporting_category in ('dispute', 'dispute_reversal') as is_dispute,
        reporting_category in ('payout', 'payout_reversal') as is_payout,
        amount_minor,
        fee_minor,
        net_minor,
        {{ stripe_minor_units() }} as minor_units_per_major

    from balance_transactions

)

select * from final
