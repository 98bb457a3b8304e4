with

tickets as (

    select ticket_id from {{ ref('fct_zendesk__tickets') }}
    where not is_excluded

),

ratings as (

    select ratings.*, {{ zendesk_utc_date('ratings.offered_at') }} as offered_date
    from {{ ref('stg_zendesk__satisfaction_ratings') }} as ratings
    inner join tickets on ratings.ticket_id = tickets.ticket_id
    where {{ zendesk_utc_date('ratings.offered_at') }} <= {{ as_of_date() }}

),

surveys as (

    select surveys.*, {{ zendesk_utc_date('surveys.responded_at') }} as responded_date
    from {{ ref('stg_zendesk__survey_responses') }} as surveys
    inner join tickets on surveys.ticket_id = tickets.ticket_id
    where {{ zendesk_utc_date('surveys.responded_at') }} <= {{ as_of_date() }}

),

first_day as (

    select least(
        (select min(offered_date) from ratings),
        (select min(responded_date) from surveys)
    ) as first_date

),

periods as (

    select 'day' as period, cast(unnest(generate_series(first_date, {{ as_of_date() }}, interval 1 day)) as date) as period_start
    from first_day
    union all
    select 'week' as period,
        cast(unnest(generate_series(date_trunc('week', first_date), date_trunc('week', {{ as_of_date() }}), interval 7 day)) as date)
    from first_day

),

rated as (

    select
        periods.period,
        periods.period_start,
        count(ratings.satisfaction_rating_id) as surveys_offered,
        count(ratings.satisfaction_rating_id) filter (where ratings.is_answered) as surveys_answered,
        count(ratings.satisfaction_rating_id) filter (where ratings.score = 'good') as good,
        count(ratings.satisfaction_rating_id) filter (where ratings.score = 'bad') as bad

    from periods
    left join ratings
        on (periods.period = 'day' and ratings.offered_date = periods.period_start)
        or (periods.period = 'week' and cast(date_trunc('week', ratings.offered_date) as date) = periods.period_start)
    group by 1, 2

),

scaled as (

    select
        periods.period,
        periods.period_start,
        count(surveys.survey_response_id) as rating_5pt_responses,
        avg(surveys.rating) as rating_5pt_average,
        avg(case when surveys.rating >= 4 then 1.0 when surveys.rating is not null then 0.0 end) as rating_5pt_share_4_5

    from periods
    left join surveys
        on (periods.period = 'day' and surveys.responded_date = periods.period_start)
        or (periods.period = 'week' and cast(date_trunc('week', surveys.responded_date) as date) = periods.period_start)
    group by 1, 2

),

final as (

    select
        rated.period,
        rated.period_start,
        rated.surveys_offered,
        rated.surveys_answered,
        rated.good,
        rated.bad,
        case when rated.good + rated.bad > 0 then cast(rated.good as double) / (rated.good + rated.bad) end as csat_percent,
        case when rated.surveys_offered > 0 then cast(rated.surveys_answered as double) / rated.surveys_offered end as response_rate,
        scaled.rating_5pt_responses,
        scaled.rating_5pt_average,
        scaled.rating_5pt_share_4_5

    from rated
    inner join scaled on rated.period = scaled.period and rated.period_start = scaled.period_start

)

select * from final
