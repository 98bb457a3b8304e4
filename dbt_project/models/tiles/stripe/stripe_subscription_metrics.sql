with

movements as (

    select * from {{ ref('fct_customer_mrr_movements') }}

),

first_month as (

    select min(created_month) as first_month
    from {{ ref('dim_subscriptions') }}

),

currencies as (

    select distinct currency from {{ ref('dim_subscriptions') }}

),

grid as (

    select dim_date.month_start, currencies.currency
    from {{ ref('dim_date') }} as dim_date, first_month, currencies
    where dim_date.is_month_start
        and dim_date.date_day >= first_month.first_month
        and dim_date.date_day < {{ as_of_date() }}

),

monthly as (

    select
        month_start,
        currency,
        sum(mrr_minor) as mrr_minor,
        sum(case when movement = 'new' then mrr_minor else 0 end) as new_mrr_minor,
        sum(case when movement = 'expansion' then mrr_minor - prior_mrr_minor else 0 end) as expansion_mrr_minor,
        sum(case when movement = 'contraction' then prior_mrr_minor - mrr_minor else 0 end) as contraction_mrr_minor,
        sum(case when movement = 'churn' then prior_mrr_minor else 0 end) as churned_mrr_minor,
        sum(case when movement = 'reactivation' then mrr_minor else 0 end) as reactivation_mrr_minor,
        count(*) filter (where mrr_minor > 0) as active_subscribers,
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
        coalesce(monthly.mrr_minor, 0) as mrr_minor,
        coalesce(monthly.new_mrr_minor, 0) as new_mrr_minor,
        coalesce(monthly.expansion_mrr_minor, 0) as expansion_mrr_minor,
        coalesce(monthly.contraction_mrr_minor, 0) as contraction_mrr_minor,
        coalesce(monthly.churned_mrr_minor, 0) as churned_mrr_minor,
        coalesce(monthly.reactivation_mrr_minor, 0) as reactivation_mrr_minor,
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
        lag(mrr_minor) over (partition by currency order by month_start) as prior_mrr_minor,
        lag(active_subscribers) over (partition by currency order by month_start) as prior_active_subscribers

    from filled

),

final as (

    select
        month_start,
        currency,
        {%- for column in ['mrr', 'new_mrr', 'expansion_mrr', 'contraction_mrr', 'churned_mrr', 'reactivation_mrr'] %}
        cast(round({{ column }}_minor) / {{ stripe_minor_units() }} as decimal(18, 2)) as {{ column }},
        {%- endfor %}
        cast(active_subscribers as integer) as active_subscribers,
        cast(new_subscribers as integer) as new_subscribers,
        cast(churned_subscribers as integer) as churned_subscribers,
        cast(reactivated_subscribers as integer) as reactivated_subscribers,
        cast(case when prior_active_subscribers > 0 then round(churned_subscribers / prior_active_subscribers, 4) end as decimal(9, 4)) as logo_churn_rate,
        cast(
            case
                when prior_mrr_minor > 0
                    then round((churned_mrr_minor + contraction_mrr_minor - expansion_mrr_minor) / prior_mrr_minor, 4)
            end as decimal(9, 4)
        ) as net_mrr_churn_rate

    from with_prior

)

select * from final
