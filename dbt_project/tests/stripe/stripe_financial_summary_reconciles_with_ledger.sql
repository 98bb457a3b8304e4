-- The tile's net per currency equals the sum of `net` of every non-payout balance transaction up to the as-of date,
-- and each day's net = gross - refunds - dispute losses - fees (nothing dropped by the categorisation).
with

ledger as (

    select currency, sum(net_minor) as net_minor
    from {{ ref('stg_stripe__balance_transactions') }}
    where reporting_category not in ('payout', 'payout_reversal')
        and cast(created_at at time zone 'UTC' as date) <= {{ as_of_date() }}
    group by 1

),

tile as (

    select currency, sum(net) as net, sum(gross_volume - refunds - dispute_losses - stripe_fees - net) as unexplained
    from {{ ref('stripe_financial_summary') }}
    group by 1

)

select tile.currency, tile.net, ledger.net_minor, tile.unexplained
from tile
full outer join ledger on tile.currency = ledger.currency
where tile.unexplained <> 0
    or abs(tile.net * {{ stripe_minor_units() | replace('currency', 'tile.currency') }} - ledger.net_minor) > 0
    or tile.currency is null
    or ledger.currency is null
