with

source as (

    select * from {{ source('stripe', 'invoices') }}

),

renamed as (

    select
        id as invoice_id,
        number as invoice_number,
        customer as customer_id,
        parent__subscription_details__subscription as subscription_id,
        status,
        billing_reason,
        lower(currency) as currency,
        subtotal as subtotal_minor,
        total as total_minor,
        amount_paid as amount_paid_minor,
        amount_due as amount_due_minor,
        to_timestamp(created) as created_at,
        to_timestamp(status_transitions__paid_at) as paid_at,
        to_timestamp(status_transitions__voided_at) as voided_at,
        to_timestamp(period_start) as period_start_at,
        to_timestamp(period_end) as period_end_at

    from source

)

select * from renamed
