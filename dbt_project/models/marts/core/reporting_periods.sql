-- The reporting periods of the overview (and the digest): N whole UTC days ending on the last complete day (the day
-- before the as-of date), each with the N days before it as the previous period. DECISIONS.md#windows-and-periods.
with

lengths as (

    select * from (values (1), (7), (30)) as t (period_days)

),

final as (

    select
        lengths.period_days,
        cast({{ as_of_date() }} - lengths.period_days as date) as period_start,
        cast({{ as_of_date() }} - 1 as date) as period_end,
        cast({{ as_of_date() }} - 2 * lengths.period_days as date) as previous_start,
        cast({{ as_of_date() }} - lengths.period_days - 1 as date) as previous_end

    from lengths

)

select * from final
