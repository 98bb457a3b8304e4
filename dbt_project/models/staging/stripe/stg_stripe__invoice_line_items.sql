with

lines as (

    select * from {{ source('stripe', 'invoices__lines__data') }}

),

invoices as (

    select _dlt_id, id, currency from {{ source('stripe', 'invoices') }}

),

renamed as (

    select
        lines.id as line_item_id,
        invoices.id as invoice_id,
        lower(invoices.currency) as currency,
        lines.amount as amount_minor,
        lines.quantity,
        lines.pricing__price_details__price as price_id,
        lines.parent__type as parent_type,
        lines.parent__subscription_item_details__subscription as subscription_id,
        lines.parent__subscription_item_details__subscription_item as subscription_item_id,
        coalesce(lines.parent__subscription_item_details__proration, false) as is_proration,
        lines.description,
        to_timestamp(lines.period__start) as period_start_at,
        to_timestamp(lines.period__end) as period_end_at

    from lines
    inner join invoices on lines._dlt_parent_id = invoices._dlt_id

)

select * from renamed
