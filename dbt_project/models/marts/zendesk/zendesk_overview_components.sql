-- Zendesk's contribution to tiles.business_overview: per reporting period, counts that belong to no currency, with
-- the same definitions as the Zendesk tiles (DECISIONS.md#zendesk): tickets created; SLA targets breached and
-- measured (achieved + breached) on their day; legacy surveys offered in the period rated good, and rated at all.
with

periods as (

    select * from {{ ref('reporting_periods') }}

),

tickets as (

    select ticket_id, created_date from {{ ref('fct_zendesk__tickets') }}
    where not is_excluded

),

targets as (

    select
        coalesce(breached_date, achieved_date) as resolved_date,
        breached_at is not null as is_breached

    from {{ ref('fct_zendesk__sla_targets') }}
    where sla_status in ('breached', 'achieved')

),

ratings as (

    select {{ zendesk_utc_date('ratings.offered_at') }} as offered_date, ratings.score
    from {{ ref('stg_zendesk__satisfaction_ratings') }} as ratings
    inner join tickets on ratings.ticket_id = tickets.ticket_id

),

wide as (

    select
        periods.period_days,
        {%- for when, start, end in [('cur', 'period_start', 'period_end'), ('prev', 'previous_start', 'previous_end')] %}
        (select count(*) from tickets where created_date between periods.{{ start }} and periods.{{ end }}) as {{ when }}_tickets_created,
        (select count(*) from targets where is_breached and resolved_date between periods.{{ start }} and periods.{{ end }}) as {{ when }}_sla_breached,
        (select count(*) from targets where resolved_date between periods.{{ start }} and periods.{{ end }}) as {{ when }}_sla_measured,
        (select count(*) from ratings where score = 'good' and offered_date between periods.{{ start }} and periods.{{ end }}) as {{ when }}_csat_good,
        (select count(*) from ratings where score in ('good', 'bad') and offered_date between periods.{{ start }} and periods.{{ end }}) as {{ when }}_csat_rated,
        {%- endfor %}
        cast(null as varchar) as currency

    from periods

),

final as (

    {{ unpivot_overview_components('wide', ['tickets_created', 'sla_breached', 'sla_measured', 'csat_good', 'csat_rated']) }}

)

select * from final
