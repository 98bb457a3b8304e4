-- Shopify's contribution to tiles.business_overview: per reporting period and shop currency, the period's and the
-- previous period's sums (definitions as in shopify_sales_daily).
with

periods as (

    select * from {{ ref('reporting_periods') }}

),

orders as (

    select * from {{ ref('fct_orders') }}
    where is_valid

),

returns as (

    select * from {{ ref('fct_returns') }}
    where is_order_valid and not is_gift_card

),

currencies as (

    select distinct currency from {{ ref('fct_orders') }}

),

grid as (

    select periods.*, currencies.currency
    from periods
    cross join currencies

),

order_sums as (

    select
        grid.period_days,
        grid.currency,
        {%- for when, start, end in [('cur', 'period_start', 'period_end'), ('prev', 'previous_start', 'previous_end')] %}
        count(orders.order_id) filter (where orders.order_date between grid.{{ start }} and grid.{{ end }}) as {{ when }}_orders,
        coalesce(sum(orders.gross_sales) filter (where orders.order_date between grid.{{ start }} and grid.{{ end }}), 0) as {{ when }}_gross_sales,
        coalesce(sum(orders.discounts) filter (where orders.order_date between grid.{{ start }} and grid.{{ end }}), 0) as {{ when }}_discounts,
        coalesce(sum(orders.total_price) filter (where orders.order_date between grid.{{ start }} and grid.{{ end }}), 0) as {{ when }}_orders_total,
        -- New in the period = first valid order in it; returning = ordered in it, first ordered before it.
        count(distinct orders.customer_id) filter (
            where orders.order_date between grid.{{ start }} and grid.{{ end }}
                and orders.customer_first_order_date between grid.{{ start }} and grid.{{ end }}
        ) as {{ when }}_new_customers,
        count(distinct orders.customer_id) filter (
            where orders.order_date between grid.{{ start }} and grid.{{ end }}
                and orders.customer_first_order_date < grid.{{ start }}
        ) as {{ when }}_returning_customers{{ ',' if not loop.last }}
        {%- endfor %}

    from grid
    left join orders
        on orders.currency = grid.currency
        and orders.order_date between grid.previous_start and grid.period_end
    group by 1, 2

),

return_sums as (

    select
        grid.period_days,
        grid.currency,
        coalesce(sum(returns.returned_value) filter (where returns.return_date between grid.period_start and grid.period_end), 0) as cur_returns,
        coalesce(sum(returns.returned_value) filter (where returns.return_date between grid.previous_start and grid.previous_end), 0) as prev_returns

    from grid
    left join returns
        on returns.currency = grid.currency
        and returns.return_date between grid.previous_start and grid.period_end
    group by 1, 2

),

wide as (

    select
        order_sums.*,
        return_sums.cur_returns,
        return_sums.prev_returns,
        order_sums.cur_gross_sales - order_sums.cur_discounts - return_sums.cur_returns as cur_net_sales,
        order_sums.prev_gross_sales - order_sums.prev_discounts - return_sums.prev_returns as prev_net_sales,
        order_sums.cur_gross_sales - order_sums.cur_discounts as cur_order_value,
        order_sums.prev_gross_sales - order_sums.prev_discounts as prev_order_value

    from order_sums
    inner join return_sums on order_sums.period_days = return_sums.period_days and order_sums.currency = return_sums.currency

),

final as (

    {{ unpivot_overview_components('wide', ['net_sales', 'gross_sales', 'discounts', 'returns', 'orders', 'order_value', 'orders_total', 'new_customers', 'returning_customers']) }}

)

select * from final
