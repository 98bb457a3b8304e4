with

status as (

    select * from {{ ref('stg_meta__token_status') }}

),

final as (

    select
        token_type,
        is_valid,
        expires_at,
        cast(case when expires_at is not null then date_diff('day', {{ as_of_date() }}, cast(expires_at as date)) end as bigint) as days_left,
        checked_at,
        warning

    from status

)

select * from final
