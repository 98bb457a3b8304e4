-- The one date spine: one row per UTC calendar day from `calendar_start_date` to the as-of date. Tiles take their
-- days (and months: `is_month_start`) from here instead of generating their own ranges.
with

days as (

    select cast(day as date) as date_day
    from range(
        cast('{{ var("calendar_start_date") }}' as date),
        {{ as_of_date() }} + interval 1 day,
        interval 1 day
    ) as t (day)

),

final as (

    select
        date_day,
        cast(date_trunc('week', date_day) as date) as week_start,
        cast(date_trunc('month', date_day) as date) as month_start,
        date_day = date_trunc('month', date_day) as is_month_start,
        cast({{ as_of_date() }} - date_day as integer) as days_before_as_of

    from days

)

select * from final
