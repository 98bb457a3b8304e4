with

balance_transactions as (

    select * from {{ ref('fct_balance_transactions') }}

),

daily as (

    select
        transaction_date,
        currency,
        sum(case when is_payment then amount_minor else 0 end) as gross_volume_minor,
        -sum(case when is_refund then amount_minor else 0 end) as refunds_minor,
        -sum(case when is_dispute then amount_minor else 0 end) as dispute_losses_minor,
        sum(case when not is_payout then fee_minor else 0 end) as fees_minor,
        sum(case when not is_payout then net_minor else 0 end) as net_minor,
        -sum(case when is_payout then amount_minor else 0 end) as payouts_minor,
        count(*) filter (where is_payment) as charges_count

    from balance_transactions
    where transaction_date <= {{ as_of_date() }}
    group by 1, 2

),

bounds as (

    select currency, min(transaction_date) as first_date
    from daily
    group by 1

),

grid as (

    select bounds.currency, dim_date.date_day as transaction_date
    from bounds
    inner join {{ ref('dim_date') }} as dim_date on dim_date.date_day >= bounds.first_date

),

joined as (

    select
        grid.transaction_date,
        grid.currency,
        coalesce(daily.gross_volume_minor, 0) as gross_volume_minor,
        coalesce(daily.refunds_minor, 0) as refunds_minor,
        coalesce(daily.dispute_losses_minor, 0) as dispute_losses_minor,
        coalesce(daily.fees_minor, 0) as fees_minor,
        coalesce(daily.net_minor, 0) as net_minor,
        coalesce(daily.payouts_minor, 0) as payouts_minor,
        coalesce(daily.charges_count, 0) as charges_count

    from grid
    left join daily on grid.currency = daily.currency and grid.transaction_date = daily.transaction_date

),

final as (

    select
        transaction_date,
        currency,
        {%- for column in ['gross_volume', 'refunds', 'dispute_losses', 'fees', 'net', 'payouts'] %}
        cast({{ column }}_minor / {{ stripe_minor_units() }} as decimal(18, 2)) as {{ 'stripe_fees' if column == 'fees' else column }},
        {%- endfor %}
        cast(charges_count as integer) as charges_count

    from joined

)

select * from final
