with

source as (

    select * from {{ source('zendesk', 'satisfaction_ratings') }}

),

renamed as (

    select
        id as satisfaction_rating_id,
        ticket_id,
        requester_id,
        assignee_id,
        group_id,
        score,
        score in ('good', 'bad') as is_answered,
        coalesce(has_comment, false) as has_comment,
        reason,
        -- The rating is created when the survey is offered and updated when the customer answers.
        cast(created_at as timestamptz) as offered_at,
        case when score in ('good', 'bad') then cast(updated_at as timestamptz) end as answered_at,
        cast(updated_at as timestamptz) as updated_at

    from source

)

select * from renamed
