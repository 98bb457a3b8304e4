with

movements as (

    select * from {{ ref('int_stripe__customer_mrr_movements') }}

),

subscriptions as (

    select * from {{ ref('stg_stripe__subscriptions') }}

),

bounds as (

    select
        date_trunc('month', min(created_at) at time zone 'UTC') as first_month,
        cast({{ as_of_date() }} as timestamp) as as_of_at

    from subscriptions

),

currencies as (

    select distinct currency from subscriptions

),

grid as (

    select cast(month_start as date) as month_start, currencies.currency
    from bounds, currencies,
        range(bounds.first_month, bounds.as_of_at, interval 1 month) as months(month_start)

),

monthly as (

    select
        month_start,
        currency,
        sum(mrr_cents) as mrr_cents,
        sum(case when movement = 'new' then mrr_cents else 0 end) as new_mrr_cents,
        sum(case when movement = 'expansion' then mrr_cents - prior_mrr_cents else 0 end) as expansion_mrr_cents,
        sum(case when movement = 'contraction' then prior_mrr_cents - mrr_cents else 0 end) as contraction_mrr_cents,
        sum(case when movement = 'churn' then prior_mrr_cents else 0 end) as churned_mrr_cents,
        sum(case when movement = 'reactivation' then mrr_cents else 0 end) as reactivation_mrr_cents,
        count(*) filter (where mrr_cents > 0) as active_subscribers,
        count(*) filter (where movement = 'new') as new_subscribers,
        count(*) filter (where movement = 'churn') as churned_subscribers,
        count(*) filter (where movement = 'reactivation') as reactivated_subscribers

    from movements
    group by 1, 2

),

filled as (

    select
        grid.month_start,
        grid.currency,
        coalesce(monthly.mrr_cents, 0) as mrr_cents,
        coalesce(monthly.new_mrr_cents, 0) as new_mrr_cents,
        coalesce(monthly.expansion_mrr_cents, 0) as expansion_mrr_cents,
        coalesce(monthly.contraction_mrr_cents, 0) as contraction_mrr_cents,
        coalesce(monthly.churned_mrr_cents, 0) as churned_mrr_cents,
        coalesce(monthly.reactivation_mrr_cents, 0) as reactivation_mrr_cents,
        coalesce(monthly.active_subscribers, 0) as active_subscribers,
        coalesce(monthly.new_subscribers, 0) as new_subscribers,
        coalesce(monthly.churned_subscribers, 0) as churned_subscribers,
        coalesce(monthly.reactivated_subscribers, 0) as reactivated_subscribers

    from grid
    left join monthly on grid.month_start = monthly.month_start and grid.currency = monthly.currency

),

with_prior as (

    select
        *,
        lag(mrr_cents) over (partition by currency order by month_start) as prior_mrr_cents,
        lag(active_subscribers) over (partition by currency order by month_start) as prior_active_subscribers

    from filled

),

final as (

    select
        month_start,
        currency,
        {%- for column in ['mrr', 'new_mrr', 'expansion_mrr', 'contraction_mrr', 'churned_mrr', 'reactivation_mrr'] %}
        cast(round({{ column }}_cents) / {{ stripe_minor_units() }} as decimal(18, 2)) as {{ column }},
        {%- endfor %}
        cast(active_subscribers as integer) as active_subscribers,
        cast(new_subscribers as integer) as new_subscribers,
        cast(churned_subscribers as integer) as churned_subscribers,
        cast(reactivated_subscribers as integer) as reactivated_subscribers,
        cast(case when prior_active_subscribers > 0 then round(churned_subscribers / prior_active_subscribers, 4) end as decimal(9, 4)) as logo_churn_rate,
        cast(
            case
                when prior_mrr_cents > 0
                    then round((churned_mrr_cents + contraction_mrr_cents - expansion_mrr_cents) / prior_mrr_cents, 4)
            end as decimal(9, 4)
        ) as net_mrr_churn_rate

    from with_prior

)

select * from final
