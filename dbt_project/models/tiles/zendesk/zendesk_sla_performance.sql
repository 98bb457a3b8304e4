with

targets as (

    select * from {{ ref('fct_zendesk__sla_targets') }}
    where applied_date <= {{ as_of_date() }}

),

open_phases as (

    select phases.*, targets.sla_policy_id, targets.sla_metric, targets.breached_at
    from {{ ref('int_zendesk__sla_clock_phases') }} as phases
    inner join targets
        on phases.ticket_id = targets.ticket_id
        and phases.metric = targets.metric
        and phases.instance_id = targets.instance_id
    where not phases.is_fulfilled

),

combos as (

    select distinct sla_policy_id, sla_policy_title, sla_metric from targets

),

days as (

    select cast(unnest(generate_series(min(applied_date), {{ as_of_date() }}, interval 1 day)) as date) as date_day
    from targets

),

grid as (

    select days.date_day, combos.sla_policy_id, combos.sla_policy_title, combos.sla_metric
    from days
    cross join combos

),

achieved as (

    select achieved_date as date_day, sla_policy_id, sla_metric, count(*) as targets_achieved
    from targets
    where sla_status = 'achieved'
    group by 1, 2, 3

),

breached as (

    select breached_date as date_day, sla_policy_id, sla_metric, count(*) as targets_breached
    from targets
    where breached_at is not null
    group by 1, 2, 3

),

active as (

    select grid.date_day, grid.sla_policy_id, grid.sla_metric, count(*) as targets_active
    from grid
    inner join open_phases
        on grid.sla_policy_id = open_phases.sla_policy_id
        and grid.sla_metric = open_phases.sla_metric
        and open_phases.phase_started_at < {{ zendesk_day_end('grid.date_day') }}
        and (open_phases.phase_ended_at is null or open_phases.phase_ended_at >= {{ zendesk_day_end('grid.date_day') }})
        and (open_phases.breached_at is null or open_phases.breached_at >= {{ zendesk_day_end('grid.date_day') }})
    group by 1, 2, 3

),

counted as (

    select
        grid.date_day,
        grid.sla_policy_id,
        grid.sla_policy_title,
        grid.sla_metric,
        coalesce(achieved.targets_achieved, 0) as targets_achieved,
        coalesce(breached.targets_breached, 0) as targets_breached,
        coalesce(active.targets_active, 0) as targets_active

    from grid
    left join achieved
        on grid.date_day = achieved.date_day and grid.sla_policy_id = achieved.sla_policy_id and grid.sla_metric = achieved.sla_metric
    left join breached
        on grid.date_day = breached.date_day and grid.sla_policy_id = breached.sla_policy_id and grid.sla_metric = breached.sla_metric
    left join active
        on grid.date_day = active.date_day and grid.sla_policy_id = active.sla_policy_id and grid.sla_metric = active.sla_metric

),

windowed as (

    select
        *,
        sum(targets_breached) over trailing_7 as breached_7d,
        sum(targets_achieved + targets_breached) over trailing_7 as resolved_7d,
        sum(targets_breached) over trailing_28 as breached_28d,
        sum(targets_achieved + targets_breached) over trailing_28 as resolved_28d

    from counted
    window
        trailing_7 as (partition by sla_policy_id, sla_metric order by date_day rows between 6 preceding and current row),
        trailing_28 as (partition by sla_policy_id, sla_metric order by date_day rows between 27 preceding and current row)

),

final as (

    select
        date_day,
        sla_policy_id,
        sla_policy_title,
        sla_metric,
        targets_achieved,
        targets_breached,
        targets_active,
        case when targets_achieved + targets_breached > 0
            then cast(targets_breached as double) / (targets_achieved + targets_breached) end as breach_rate,
        case when resolved_7d > 0 then cast(breached_7d as double) / resolved_7d end as breach_rate_7d,
        case when resolved_28d > 0 then cast(breached_28d as double) / resolved_28d end as breach_rate_28d

    from windowed

)

select * from final
