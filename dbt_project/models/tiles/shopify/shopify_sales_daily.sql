-- Shopify's sales report, per UTC day and shop currency, zero-filled from the first order to the as-of date.
-- Definitions (Shopify's, see DECISIONS.md#shopify): net_sales = gross_sales - discounts - returns, without shipping,
-- taxes and gift cards; sales count on the order's day, returns on the refund's day.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where is_valid

),

returns as (

    select
        return_date,
        currency,
        sum(returned_value) filter (where not is_gift_card) as returns

    from {{ ref('fct_returns') }}
    where is_order_valid
    group by 1, 2

),

refunds as (

    select refund_date, currency, sum(refund_amount) as refunds
    from {{ ref('fct_refunds') }}
    group by 1, 2

),

order_days as (

    select
        order_date,
        currency,
        count(*) as orders_count,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(gift_card_sales) as gift_card_sales,
        sum(shipping) as shipping,
        sum(taxes) as taxes,
        sum(total_price) as orders_total,
        -- New that day = first valid order that day; returning = ordered that day, first ordered on an earlier day.
        -- A customer's second order on their first day keeps them new (never both).
        count(distinct customer_id) filter (where customer_first_order_date = order_date) as new_customers,
        count(distinct customer_id) filter (where customer_first_order_date < order_date) as returning_customers

    from orders
    group by 1, 2

),

currencies as (

    select distinct currency from {{ ref('fct_orders') }}

),

spine as (

    select dim_date.date_day, currencies.currency
    from {{ ref('dim_date') }} as dim_date
    cross join currencies
    where dim_date.date_day >= (select min(order_date) from {{ ref('fct_orders') }})

),

final as (

    select
        spine.date_day as order_date,
        spine.currency,
        cast(coalesce(order_days.orders_count, 0) as integer) as orders_count,
        cast(coalesce(order_days.gross_sales, 0) as decimal(18, 2)) as gross_sales,
        cast(coalesce(order_days.discounts, 0) as decimal(18, 2)) as discounts,
        cast(coalesce(returns.returns, 0) as decimal(18, 2)) as returns,
        cast(
            coalesce(order_days.gross_sales, 0) - coalesce(order_days.discounts, 0) - coalesce(returns.returns, 0)
            as decimal(18, 2)
        ) as net_sales,
        cast(coalesce(order_days.gift_card_sales, 0) as decimal(18, 2)) as gift_card_sales,
        cast(coalesce(order_days.shipping, 0) as decimal(18, 2)) as shipping,
        cast(coalesce(order_days.taxes, 0) as decimal(18, 2)) as taxes,
        cast(coalesce(order_days.orders_total, 0) as decimal(18, 2)) as orders_total,
        cast(coalesce(refunds.refunds, 0) as decimal(18, 2)) as refunds,
        cast(coalesce(order_days.orders_total, 0) - coalesce(refunds.refunds, 0) as decimal(18, 2)) as orders_total_less_refunds,
        cast(coalesce(order_days.gross_sales, 0) - coalesce(order_days.discounts, 0) as decimal(18, 2)) as order_value,
        cast(
            case
                when order_days.orders_count > 0
                    then (order_days.gross_sales - order_days.discounts) / order_days.orders_count
            end as decimal(18, 2)
        ) as average_order_value,
        cast(coalesce(order_days.new_customers, 0) as integer) as new_customers,
        cast(coalesce(order_days.returning_customers, 0) as integer) as returning_customers

    from spine
    left join order_days on spine.date_day = order_days.order_date and spine.currency = order_days.currency
    left join returns on spine.date_day = returns.return_date and spine.currency = returns.currency
    left join refunds on spine.date_day = refunds.refund_date and spine.currency = refunds.currency

)

select * from final
