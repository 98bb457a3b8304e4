with

source as (

    select * from {{ source('meta', 'ig_insights') }}

),

renamed as (

    select
        ig_user_id,
        metric,
        cast("date" as date) as metric_date,
        cast(value as bigint) as metric_value

    from source

)

select * from renamed
