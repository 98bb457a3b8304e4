with

source as (

    select * from {{ source('zendesk', 'survey_responses') }}

),

renamed as (

    select
        id as survey_response_id,
        ticket_id,
        responder_id,
        survey_id,
        survey_version,
        cast(rating as integer) as rating,
        cast(created_at as timestamptz) as responded_at,
        cast(updated_at as timestamptz) as updated_at

    from source

)

select * from renamed
