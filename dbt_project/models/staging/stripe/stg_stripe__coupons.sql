with

source as (

    select * from {{ source('stripe', 'coupons') }}

),

renamed as (

    select
        id as coupon_id,
        name as coupon_name,
        cast(percent_off as double) as percent_off,
        amount_off as amount_off_minor,
        lower(currency) as currency,
        duration,
        duration_in_months,
        to_timestamp(created) as created_at

    from source

)

select * from renamed
