with

source as (

    select * from {{ source('klaviyo', 'profiles') }}

),

renamed as (

    select
        id as profile_id,
        lower(trim(email)) as email,
        phone_number,
        first_name,
        last_name,
        city,
        region,
        country,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at,
        email_consent,
        cast(email_consent_at as timestamptz) as email_consent_at,
        coalesce(can_receive_email_marketing, false) as can_receive_email_marketing,
        cast(suppressed_at as timestamptz) as suppressed_at,
        suppression_reason,
        suppressed_at is not null as is_suppressed

    from source

)

select * from renamed
