-- One row per customer and month, from the customer's first month with MRR to the as-of month (dense), with the
-- month's MRR movement. Classification (order matters): prior = 0 and current > 0 is `new` if the customer never had
-- MRR before, else `reactivation`; then expansion / contraction between two non-zero months; churn when current = 0.
with

subscription_mrr as (

    select * from {{ ref('fct_subscription_mrr_monthly') }}

),

customer_month as (

    -- Rounded to a millionth of a cent so that equal MRR in two months compares equal (float sums).
    select customer_id, currency, month_start, round(sum(mrr_minor), 6) as mrr_minor
    from subscription_mrr
    group by 1, 2, 3

),

customer_span as (

    select customer_id, currency, min(month_start) as first_month
    from customer_month
    where mrr_minor > 0
    group by 1, 2

),

spine as (

    select
        customer_span.customer_id,
        customer_span.currency,
        dim_date.month_start

    from customer_span
    inner join {{ ref('dim_date') }} as dim_date
        on dim_date.is_month_start
        and dim_date.date_day >= customer_span.first_month
        and dim_date.date_day < {{ as_of_date() }}

),

filled as (

    select
        spine.customer_id,
        spine.currency,
        spine.month_start,
        coalesce(customer_month.mrr_minor, 0) as mrr_minor

    from spine
    left join customer_month
        on spine.customer_id = customer_month.customer_id
        and spine.currency = customer_month.currency
        and spine.month_start = customer_month.month_start

),

with_prior as (

    select
        *,
        coalesce(lag(mrr_minor) over customer_months, 0) as prior_mrr_minor,
        coalesce(
            max(case when mrr_minor > 0 then 1 else 0 end) over (
                customer_months rows between unbounded preceding and 1 preceding
            ),
            0
        ) = 1 as had_mrr_before

    from filled
    window customer_months as (partition by customer_id, currency order by month_start)

),

final as (

    select
        customer_id,
        currency,
        month_start,
        mrr_minor,
        prior_mrr_minor,
        case
            when prior_mrr_minor = 0 and mrr_minor > 0 and not had_mrr_before then 'new'
            when prior_mrr_minor = 0 and mrr_minor > 0 then 'reactivation'
            when prior_mrr_minor > 0 and mrr_minor = 0 then 'churn'
            when mrr_minor > prior_mrr_minor then 'expansion'
            when mrr_minor < prior_mrr_minor then 'contraction'
            when mrr_minor = 0 then 'inactive'
            else 'unchanged'
        end as movement

    from with_prior

)

select * from final
