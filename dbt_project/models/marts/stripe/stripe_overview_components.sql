-- Stripe's contribution to tiles.business_overview, per reporting period and currency. MRR is monthly (the as-of
-- month's snapshot against the month before), open disputes and upcoming payouts are "now" (no previous value:
-- Stripe keeps only their current status).
with

periods as (

    select * from {{ ref('reporting_periods') }}

),

mrr_months as (

    select
        currency,
        month_start,
        sum(mrr_minor) / max({{ stripe_minor_units() }}) as mrr,
        row_number() over (partition by currency order by month_start desc) as months_back

    from {{ ref('fct_customer_mrr_movements') }}
    group by currency, month_start

),

mrr as (

    select
        currency,
        max(mrr) filter (where months_back = 1) as mrr,
        max(mrr) filter (where months_back = 2) as prior_mrr,
        max(mrr) filter (where months_back = 3) as prior_prior_mrr,
        max(month_start) filter (where months_back = 1) as month_start

    from mrr_months
    group by currency

),

disputes as (

    select * from {{ ref('fct_disputes') }}
    where created_date <= {{ as_of_date() }}

),

open_disputes as (

    select
        currency,
        count(*) as open_disputes,
        sum(amount) as open_disputes_amount,
        min(cast(evidence_due_at as date)) filter (where is_awaiting_response) as next_evidence_due

    from disputes
    where is_open
    group by currency

),

upcoming_payouts as (

    select currency, sum(amount) as amount, min(arrival_date) as next_arrival
    from {{ ref('fct_payouts') }}
    where is_upcoming and created_date <= {{ as_of_date() }}
    group by currency

),

disputes_opened as (

    select
        periods.period_days,
        currencies.currency,
        count(disputes.dispute_id) filter (where disputes.created_date between periods.period_start and periods.period_end) as cur_disputes_opened,
        count(disputes.dispute_id) filter (where disputes.created_date between periods.previous_start and periods.previous_end) as prev_disputes_opened

    from periods
    cross join (select distinct currency from {{ ref('fct_disputes') }}) as currencies
    left join disputes on disputes.currency = currencies.currency
    group by 1, 2

),

final as (

    select 'mrr' as component, upper(mrr.currency) as currency, periods.period_days, mrr.mrr as current_value,
        mrr.prior_mrr as previous_value, 'as of ' || strftime(mrr.month_start, '%B %Y') || ', vs the month before' as detail
    from mrr cross join periods

    union all

    select 'net_new_mrr', upper(mrr.currency), periods.period_days, mrr.mrr - coalesce(mrr.prior_mrr, 0),
        mrr.prior_mrr - coalesce(mrr.prior_prior_mrr, 0), strftime(mrr.month_start, '%B %Y') || ', vs the month before'
    from mrr cross join periods

    union all

    select 'open_disputes', upper(open_disputes.currency), periods.period_days, open_disputes.open_disputes, null,
        case when open_disputes.next_evidence_due is not null then 'next evidence due ' || strftime(open_disputes.next_evidence_due, '%Y-%m-%d') end
    from open_disputes cross join periods

    union all

    select 'open_disputes_amount', upper(open_disputes.currency), periods.period_days, open_disputes.open_disputes_amount, null, null
    from open_disputes cross join periods

    union all

    select 'upcoming_payouts', upper(upcoming_payouts.currency), periods.period_days, upcoming_payouts.amount, null,
        'next arrives ' || strftime(upcoming_payouts.next_arrival, '%Y-%m-%d')
    from upcoming_payouts cross join periods

    union all

    select 'disputes_opened', upper(currency), period_days, cur_disputes_opened, prev_disputes_opened, null
    from disputes_opened

)

select
    cast(component as varchar) as component,
    cast(currency as varchar) as currency,
    cast(period_days as integer) as period_days,
    cast(current_value as decimal(18, 4)) as current_value,
    cast(previous_value as decimal(18, 4)) as previous_value,
    cast(detail as varchar) as detail
from final
