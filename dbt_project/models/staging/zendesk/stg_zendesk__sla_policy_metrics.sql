with

source as (

    select * from {{ source('zendesk', 'sla_policy_metrics') }}

),

renamed as (

    select
        id as sla_policy_metric_id,
        policy_id as sla_policy_id,
        priority,
        metric,
        target as target_minutes,
        business_hours as is_business_hours

    from source

)

select * from renamed
