-- Klaviyo's contribution to tiles.business_overview: revenue of the period's orders attributed to email by our
-- last-touch model (fct_order_attributions), per reporting period and shop currency.
with

periods as (

    select * from {{ ref('reporting_periods') }}

),

attributions as (

    select * from {{ ref('fct_order_attributions') }}

),

wide as (

    select
        periods.period_days,
        currencies.currency,
        coalesce(sum(attributions.attributed_revenue) filter (where attributions.order_date between periods.period_start and periods.period_end), 0) as cur_email_attributed_revenue,
        coalesce(sum(attributions.attributed_revenue) filter (where attributions.order_date between periods.previous_start and periods.previous_end), 0) as prev_email_attributed_revenue,
        count(*) filter (where attributions.is_attributed and attributions.order_date between periods.period_start and periods.period_end) as cur_email_attributed_orders,
        count(*) filter (where attributions.is_attributed and attributions.order_date between periods.previous_start and periods.previous_end) as prev_email_attributed_orders

    from periods
    cross join (select distinct currency from {{ ref('fct_order_attributions') }}) as currencies
    left join attributions on attributions.currency = currencies.currency
    group by 1, 2

),

final as (

    {{ unpivot_overview_components('wide', ['email_attributed_revenue', 'email_attributed_orders']) }}

)

select * from final
