-- One row per Stripe dispute (a chargeback or inquiry on a charge), with the customer it concerns.
with

disputes as (

    select * from {{ ref('stg_stripe__disputes') }}

),

charges as (

    select charge_id, customer_id from {{ ref('stg_stripe__charges') }}

),

customers as (

    select customer_id, email from {{ ref('stg_stripe__customers') }}

),

final as (

    select
        disputes.dispute_id,
        disputes.charge_id,
        charges.customer_id,
        customers.email as customer_email,
        disputes.created_at,
        cast(disputes.created_at at time zone 'UTC' as date) as created_date,
        disputes.currency,
        cast(disputes.amount_minor / {{ stripe_minor_units() }} as decimal(18, 2)) as amount,
        disputes.reason,
        disputes.status,
        disputes.status in ('warning_needs_response', 'warning_under_review', 'needs_response', 'under_review') as is_open,
        disputes.status in ('warning_needs_response', 'needs_response') as is_awaiting_response,
        disputes.evidence_due_at at time zone 'UTC' as evidence_due_at,
        disputes.has_evidence

    from disputes
    left join charges on disputes.charge_id = charges.charge_id
    left join customers on charges.customer_id = customers.customer_id

)

select * from final
