with

disputes as (

    select * from {{ ref('fct_disputes') }}
    where created_date <= {{ as_of_date() }}

),

final as (

    select
        dispute_id,
        charge_id,
        customer_id,
        customer_email,
        created_date,
        currency,
        amount,
        reason,
        status,
        is_open,
        case when status in ('won', 'lost', 'warning_closed', 'prevented') then 'resolved' else 'open' end as resolution,
        evidence_due_at,
        cast(
            case when is_awaiting_response then cast(evidence_due_at as date) - {{ as_of_date() }} end as integer
        ) as days_left_for_evidence,
        has_evidence

    from disputes

)

select * from final
