{#-
    The overview every reader shares (the dashboard's first page, the digest, any BI tool): one row per metric,
    reporting period (1, 7, 30 days ending on the last complete day) and currency, with the previous period.

    Inputs are the providers' overview components (`marts/<p>/<p>_overview_components`, one contract for all),
    for every provider in var('overview_providers'). A metric whose components are absent (the provider is not
    built yet, e.g. Zendesk or Meta) is still a row: value NULL, is_available false, and the reason.
    Adding a provider's figures = its components model + its name in var('overview_providers'); the metrics below
    already name the components they need. DECISIONS.md#business-overview.
-#}
{%- set providers = var('overview_providers') -%}
{%- set provider_labels = {'shopify': 'Shopify', 'stripe': 'Stripe', 'klaviyo': 'Klaviyo', 'meta': 'Meta Ads', 'zendesk': 'Zendesk'} -%}
{#- component -> the provider that supplies it -#}
{%- set suppliers = {
    'net_sales': 'shopify', 'orders': 'shopify', 'order_value': 'shopify', 'orders_total': 'shopify',
    'new_customers': 'shopify', 'returning_customers': 'shopify',
    'email_attributed_revenue': 'klaviyo',
    'mrr': 'stripe', 'net_new_mrr': 'stripe', 'open_disputes': 'stripe', 'open_disputes_amount': 'stripe',
    'upcoming_payouts': 'stripe', 'disputes_opened': 'stripe',
    'ad_spend': 'meta',
    'tickets_created': 'zendesk', 'sla_breached': 'zendesk', 'sla_measured': 'zendesk',
    'csat_good': 'zendesk', 'csat_rated': 'zendesk',
} -%}
{#- key, label, page (provider), unit (money | count | ratio | per_100), scope (currency: per currency; total: across
    currencies), comparison (previous_period | previous_month | none), value expression over c_<component>, the
    components it needs. The previous value is the same expression over p_<component>. -#}
{%- set metrics = [
    ('net_sales', 'Net sales', 'shopify', 'money', 'currency', 'previous_period', 'c_net_sales', ['net_sales']),
    ('orders', 'Orders', 'shopify', 'count', 'currency', 'previous_period', 'c_orders', ['orders']),
    ('average_order_value', 'Average order value', 'shopify', 'money', 'currency', 'previous_period', 'c_order_value / nullif(c_orders, 0)', ['order_value', 'orders']),
    ('new_customers', 'New customers', 'shopify', 'count', 'currency', 'previous_period', 'c_new_customers', ['new_customers']),
    ('returning_customers', 'Returning customers', 'shopify', 'count', 'currency', 'previous_period', 'c_returning_customers', ['returning_customers']),
    ('new_customer_share', 'New customers (share)', 'shopify', 'ratio', 'currency', 'previous_period', 'c_new_customers / nullif(c_new_customers + c_returning_customers, 0)', ['new_customers', 'returning_customers']),
    ('mrr', 'MRR', 'stripe', 'money', 'currency', 'previous_month', 'c_mrr', ['mrr']),
    ('net_new_mrr', 'Net new MRR this month', 'stripe', 'money', 'currency', 'previous_month', 'c_net_new_mrr', ['net_new_mrr']),
    ('email_attributed_revenue_share', 'Email-attributed revenue share', 'klaviyo', 'ratio', 'currency', 'previous_period', 'c_email_attributed_revenue / nullif(c_orders_total, 0)', ['email_attributed_revenue', 'orders_total']),
    ('ad_spend', 'Ad spend', 'meta', 'money', 'currency', 'previous_period', 'c_ad_spend', ['ad_spend']),
    ('blended_roas', 'Blended ROAS (net sales / ad spend)', 'meta', 'ratio', 'currency', 'previous_period', 'c_net_sales / nullif(c_ad_spend, 0)', ['net_sales', 'ad_spend']),
    ('new_customer_acquisition_cost', 'New-customer acquisition cost', 'meta', 'money', 'currency', 'previous_period', 'c_ad_spend / nullif(c_new_customers, 0)', ['ad_spend', 'new_customers']),
    ('support_tickets_per_100_orders', 'Support tickets per 100 orders', 'zendesk', 'per_100', 'total', 'previous_period', '100.0 * c_tickets_created / nullif(c_orders, 0)', ['tickets_created', 'orders']),
    ('sla_breach_rate', 'SLA breach rate', 'zendesk', 'ratio', 'total', 'previous_period', 'c_sla_breached / nullif(c_sla_measured, 0)', ['sla_breached', 'sla_measured']),
    ('csat', 'CSAT (good / rated)', 'zendesk', 'ratio', 'total', 'previous_period', 'c_csat_good / nullif(c_csat_rated, 0)', ['csat_good', 'csat_rated']),
    ('open_disputes', 'Open disputes', 'stripe', 'count', 'currency', 'none', 'c_open_disputes', ['open_disputes']),
    ('open_disputes_amount', 'Open disputes (amount)', 'stripe', 'money', 'currency', 'none', 'c_open_disputes_amount', ['open_disputes_amount']),
    ('disputes_opened', 'Disputes opened', 'stripe', 'count', 'currency', 'previous_period', 'c_disputes_opened', ['disputes_opened']),
    ('upcoming_payouts', 'Payouts on the way', 'stripe', 'money', 'currency', 'none', 'c_upcoming_payouts', ['upcoming_payouts']),
] -%}
{%- set components = suppliers.keys() | list -%}
with

periods as (

    select * from {{ ref('reporting_periods') }}

),

components as (

    {%- for provider in providers %}
    select * from {{ ref(provider ~ '_overview_components') }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

by_currency as (

    select
        period_days,
        currency,
        {%- for c in components %}
        max(current_value) filter (where component = '{{ c }}') as c_{{ c }},
        max(previous_value) filter (where component = '{{ c }}') as p_{{ c }},
        count(*) filter (where component = '{{ c }}') > 0 as has_{{ c }},
        max(detail) filter (where component = '{{ c }}') as d_{{ c }}{{ ',' if not loop.last }}
        {%- endfor %}

    from components
    where currency is not null
    group by 1, 2

),

totals as (

    -- Across currencies: only counts are added up here (money never is).
    select
        period_days,
        cast(null as varchar) as currency,
        {%- for c in components %}
        sum(current_value) filter (where component = '{{ c }}') as c_{{ c }},
        sum(previous_value) filter (where component = '{{ c }}') as p_{{ c }},
        count(*) filter (where component = '{{ c }}') > 0 as has_{{ c }},
        max(detail) filter (where component = '{{ c }}') as d_{{ c }}{{ ',' if not loop.last }}
        {%- endfor %}

    from components
    group by 1

),

metric_rows as (

    {%- for key, label, page, unit, scope, comparison, expression, needs in metrics %}
    {%- set source = 'by_currency' if scope == 'currency' else 'totals' %}
    {%- set missing = [] %}
    {%- for c in needs %}{% if suppliers[c] not in providers and provider_labels[suppliers[c]] not in missing %}{% do missing.append(provider_labels[suppliers[c]]) %}{% endif %}{% endfor %}
    {%- set any_present = '(has_' ~ needs | join(' or has_') ~ ')' %}
    {%- set all_present = '(has_' ~ needs | join(' and has_') ~ ')' %}
    select
        {{ loop.index }} as sort_order,
        '{{ key }}' as metric,
        '{{ label }}' as metric_label,
        '{{ page }}' as provider,
        '{{ unit }}' as unit,
        '{{ comparison }}' as comparison,
    {%- if missing %}
        -- Not built yet: one row per period (in the shop currency for money), value NULL, and why.
        periods.period_days,
        {% if scope == 'currency' %}(select min(currency) from by_currency where has_orders){% else %}cast(null as varchar){% endif %} as currency,
        null as value,
        null as previous_value,
        false as is_available,
        '{{ missing | join(" and ") }} {{ "is" if missing | length == 1 else "are" }} not set up yet: this figure appears once {{ "its" if missing | length == 1 else "their" }} tiles are built.' as unavailable_reason,
        null as detail
    from periods
    {%- else %}
        {{ source }}.period_days,
        {{ source }}.currency,
        case when {{ all_present }} then {{ expression }} end as value,
        {% if comparison == 'none' %}null{% else %}case when {{ all_present }} then {{ expression | replace('c_', 'p_') }} end{% endif %} as previous_value,
        {{ all_present }} as is_available,
        case when not {{ all_present }} then 'No data for this figure in this currency yet.' end as unavailable_reason,
        coalesce({{ 'd_' ~ needs | join(', d_') }}) as detail
    from {{ source }}
    where {{ any_present }}
    {%- endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select
        cast(metric_rows.metric as varchar) as metric,
        cast(metric_rows.metric_label as varchar) as metric_label,
        cast(metric_rows.provider as varchar) as provider,
        cast(metric_rows.unit as varchar) as unit,
        cast(metric_rows.currency as varchar) as currency,
        cast(metric_rows.period_days as integer) as period_days,
        periods.period_start,
        periods.period_end,
        periods.previous_start,
        periods.previous_end,
        cast(metric_rows.comparison as varchar) as comparison,
        cast(metric_rows.value as decimal(18, 4)) as value,
        cast(metric_rows.previous_value as decimal(18, 4)) as previous_value,
        cast(
            (metric_rows.value - metric_rows.previous_value) / nullif(abs(metric_rows.previous_value), 0)
            as decimal(18, 4)
        ) as change_ratio,
        cast(metric_rows.is_available as boolean) as is_available,
        cast(metric_rows.unavailable_reason as varchar) as unavailable_reason,
        cast(metric_rows.detail as varchar) as detail,
        cast(metric_rows.sort_order as integer) as sort_order

    from metric_rows
    inner join periods on metric_rows.period_days = periods.period_days

)

select * from final
