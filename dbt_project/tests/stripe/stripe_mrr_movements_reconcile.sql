-- MRR bridge: this month's MRR = last month's + new + reactivation + expansion - contraction - churned, per currency.
-- Each column is rounded to the cent on its own, so allow up to 3 cents of rounding.
with

metrics as (

    select
        *,
        lag(mrr) over (partition by currency order by month_start) as prior_mrr

    from {{ ref('stripe_subscription_metrics') }}

)

select *
from metrics
where abs(
    coalesce(prior_mrr, 0) + new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr - churned_mrr - mrr
) > 0.03
