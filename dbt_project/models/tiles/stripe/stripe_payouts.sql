with

payouts as (

    select * from {{ ref('fct_payouts') }}
    where created_date <= {{ as_of_date() }}

),

final as (

    select
        payout_id,
        created_date,
        arrival_date,
        currency,
        amount,
        status,
        is_upcoming,
        cast(case when is_upcoming then arrival_date - {{ as_of_date() }} end as integer) as days_until_arrival,
        failure_code,
        failure_message,
        is_automatic

    from payouts

)

select * from final
