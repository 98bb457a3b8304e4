-- Which tickets count at all: deleted tickets (status `deleted`), spam (deleted by "mark as spam", which also
-- suspends the requester) and tickets merged into another (closed with the tag `closed_by_merge`) never count as
-- created, open, solved or breached.
with

tickets as (

    select * from {{ ref('stg_zendesk__tickets') }}

),

users as (

    select * from {{ ref('stg_zendesk__users') }}

),

final as (

    select
        tickets.*,
        users.email as requester_email,
        users.name as requester_name,
        case
            when tickets.is_deleted and coalesce(users.is_suspended, false) then 'spam'
            when tickets.is_deleted then 'deleted'
            when tickets.is_merged then 'merged'
        end as exclusion_reason,
        tickets.is_deleted or tickets.is_merged as is_excluded

    from tickets
    left join users on tickets.requester_id = users.user_id

)

select * from final
