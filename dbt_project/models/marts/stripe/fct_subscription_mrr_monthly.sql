-- One row per subscription and month in which it carried MRR at the month-end snapshot.
--
-- Snapshot instant: the first instant of the next month, or the as-of date (midnight UTC) for the current month; a
-- state counts if it was in effect just before that instant. History comes from invoice lines (Stripe keeps them
-- forever; events only 30 days): for each subscription item, the line with the latest period start covering the
-- snapshot says which price and quantity were billed. A mid-period change (always_invoice proration) starts a
-- "Remaining time" line (new price/quantity) and an "Unused time" credit line at the change; the newest covering line
-- wins, a credit line means the item was removed. Statuses come from the subscription: trialing until trial_end,
-- nothing after ended_at. Definitions: DECISIONS.md#stripe.
with

subscriptions as (

    select * from {{ ref('stg_stripe__subscriptions') }}

),

lines as (

    select * from {{ ref('stg_stripe__invoice_line_items') }}
    where parent_type = 'subscription_item_details'

),

prices as (

    select * from {{ ref('stg_stripe__prices') }}

),

discounts as (

    select * from {{ ref('stg_stripe__subscription_discounts') }}

),

coupons as (

    select * from {{ ref('stg_stripe__coupons') }}

),

first_month as (

    select date_trunc('month', min(created_at) at time zone 'UTC') as first_month
    from subscriptions

),

months as (

    -- Months whose snapshot instant comes after their first instant (the as-of month only once the as-of date is
    -- past its first day), from the date spine.
    select
        dim_date.month_start,
        least(dim_date.month_start + interval 1 month, cast({{ as_of_date() }} as timestamp)) as snapshot_at

    from {{ ref('dim_date') }} as dim_date, first_month
    where dim_date.is_month_start
        and dim_date.date_day >= first_month.first_month
        and dim_date.date_day < {{ as_of_date() }}

),

covering_lines as (

    select
        months.month_start,
        months.snapshot_at,
        lines.subscription_id,
        lines.subscription_item_id,
        lines.price_id,
        lines.quantity,
        lines.amount_minor,
        row_number() over (
            partition by months.month_start, lines.subscription_item_id
            order by lines.period_start_at desc, lines.amount_minor desc
        ) as recency

    from months
    inner join lines
        on lines.period_start_at at time zone 'UTC' < months.snapshot_at
        and lines.period_end_at at time zone 'UTC' >= months.snapshot_at

),

item_mrr as (

    select
        covering_lines.month_start,
        covering_lines.snapshot_at,
        covering_lines.subscription_id,
        prices.recurring_interval,
        prices.recurring_interval_count,
        -- Monthly-normalised, quantity included, in (fractional) minor units.
        prices.unit_amount_minor * covering_lines.quantity
        * case prices.recurring_interval
            when 'year' then 1.0 / (12 * prices.recurring_interval_count)
            when 'week' then 52.0 / (12 * prices.recurring_interval_count)
            when 'day' then 365.0 / (12 * prices.recurring_interval_count)
            else 1.0 / prices.recurring_interval_count
        end as mrr_minor,
        case prices.recurring_interval
            when 'year' then 12.0 * prices.recurring_interval_count
            when 'week' then 12.0 * prices.recurring_interval_count / 52
            when 'day' then 12.0 * prices.recurring_interval_count / 365
            else 1.0 * prices.recurring_interval_count
        end as months_per_interval

    from covering_lines
    inner join prices on covering_lines.price_id = prices.price_id
    where covering_lines.recency = 1
        and covering_lines.amount_minor >= 0  -- newest covering line is a credit: the item was removed
        and prices.price_type = 'recurring'
        and prices.usage_type = 'licensed'  -- metered (usage-based) items are not MRR

),

subscription_gross as (

    select
        month_start,
        snapshot_at,
        subscription_id,
        sum(mrr_minor) as gross_mrr_minor,
        max(months_per_interval) as months_per_interval

    from item_mrr
    group by 1, 2, 3

),

forever_discounts as (

    -- Stripe's MRR applies only coupons with duration `forever`; once/repeating ones leave MRR unchanged.
    select
        subscription_gross.month_start,
        subscription_gross.subscription_id,
        coalesce(sum(coupons.percent_off), 0) as percent_off,
        coalesce(sum(coupons.amount_off_minor / subscription_gross.months_per_interval), 0) as amount_off_minor

    from subscription_gross
    inner join discounts on subscription_gross.subscription_id = discounts.subscription_id
    inner join coupons on discounts.coupon_id = coupons.coupon_id
    where coupons.duration = 'forever'
        and discounts.start_at at time zone 'UTC' < subscription_gross.snapshot_at
        and (discounts.end_at is null or discounts.end_at at time zone 'UTC' >= subscription_gross.snapshot_at)
    group by 1, 2

),

final as (

    select
        subscription_gross.month_start,
        subscription_gross.subscription_id,
        subscriptions.customer_id,
        subscriptions.currency,
        greatest(
            0,
            subscription_gross.gross_mrr_minor * (1 - coalesce(forever_discounts.percent_off, 0) / 100)
            - coalesce(forever_discounts.amount_off_minor, 0)
        ) as mrr_minor

    from subscription_gross
    inner join subscriptions on subscription_gross.subscription_id = subscriptions.subscription_id
    left join forever_discounts
        on subscription_gross.subscription_id = forever_discounts.subscription_id
        and subscription_gross.month_start = forever_discounts.month_start
    -- Active or past_due at the snapshot: not before it started, not still trialing, not ended. Current `unpaid`,
    -- `incomplete*` and `paused` subscriptions carry no MRR in the as-of month.
    where subscriptions.created_at at time zone 'UTC' < subscription_gross.snapshot_at
        and (subscriptions.trial_end_at is null or subscriptions.trial_end_at at time zone 'UTC' < subscription_gross.snapshot_at)
        and (subscriptions.ended_at is null or subscriptions.ended_at at time zone 'UTC' >= subscription_gross.snapshot_at)
        and not (
            subscriptions.status in ('unpaid', 'incomplete', 'incomplete_expired', 'paused')
            and subscription_gross.snapshot_at = cast({{ as_of_date() }} as timestamp)
        )

)

select * from final
