with

source as (

    select * from {{ source('zendesk', 'tickets') }}

),

renamed as (

    select
        id as ticket_id,
        status,
        priority,
        type as ticket_type,
        subject,
        requester_id,
        submitter_id,
        assignee_id,
        group_id,
        organization_id,
        via ->> 'channel' as via_channel,
        -- The agent interface's link, from the API url (https://{subdomain}.zendesk.com/api/v2/tickets/{id}.json).
        regexp_replace(url, '/api/v2/tickets/([0-9]+)\.json$', '/agent/tickets/\1') as ticket_url,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,
        satisfaction_rating ->> 'score' as satisfaction_score,
        status = 'deleted' as is_deleted,
        -- Zendesk closes a ticket merged into another and tags it `closed_by_merge`.
        coalesce(list_contains(cast(from_json(tags, '["VARCHAR"]') as varchar[]), 'closed_by_merge'), false) as is_merged,
        tags

    from source

)

select * from renamed
