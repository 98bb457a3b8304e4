with

source as (

    select * from {{ source('meta', 'page_insights') }}

),

renamed as (

    select
        page_id,
        metric,
        cast("date" as date) as metric_date,
        cast(value as bigint) as metric_value

    from source

)

select * from renamed
