with

source as (

    select * from {{ source('zendesk', 'ticket_comments') }}

),

renamed as (

    select
        id as comment_id,
        audit_id,
        ticket_id,
        author_id,
        public as is_public,
        cast(created_at as timestamptz) as created_at

    from source

)

select * from renamed
