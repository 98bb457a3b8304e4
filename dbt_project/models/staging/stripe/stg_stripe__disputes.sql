with

source as (

    select * from {{ source('stripe', 'disputes') }}

),

renamed as (

    select
        id as dispute_id,
        charge as charge_id,
        status,
        reason,
        lower(currency) as currency,
        amount as amount_minor,
        coalesce(evidence_details__has_evidence, false) as has_evidence,
        to_timestamp(evidence_details__due_by) as evidence_due_at,
        to_timestamp(created) as created_at

    from source

)

select * from renamed
