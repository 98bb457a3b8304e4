with

agents as (

    select user_id as agent_id, name as agent_name from {{ ref('stg_zendesk__users') }}
    where is_agent

),

tickets as (

    select * from {{ ref('fct_zendesk__tickets') }}
    where not is_excluded

),

solved as (

    select
        cast(date_trunc('week', solved_date) as date) as week_start,
        assignee_id as agent_id,
        count(*) as tickets_solved,
        quantile_cont(first_reply_calendar_minutes, 0.5) as first_reply_median_calendar_minutes,
        quantile_cont(first_reply_business_minutes, 0.5) as first_reply_median_business_minutes,
        quantile_cont(full_resolution_calendar_minutes, 0.5) as full_resolution_median_calendar_minutes,
        quantile_cont(full_resolution_business_minutes, 0.5) as full_resolution_median_business_minutes,
        avg(case when is_one_touch then 1.0 else 0.0 end) as one_touch_rate,
        avg(case when is_reopened then 1.0 else 0.0 end) as reopen_rate

    from tickets
    where solved_date is not null and solved_date <= {{ as_of_date() }} and assignee_id is not null
    group by 1, 2

),

replies as (

    select
        cast(date_trunc('week', {{ zendesk_utc_date('comments.created_at') }}) as date) as week_start,
        comments.author_id as agent_id,
        count(*) as public_replies

    from {{ ref('stg_zendesk__ticket_comments') }} as comments
    inner join tickets on comments.ticket_id = tickets.ticket_id
    inner join agents on comments.author_id = agents.agent_id
    where comments.is_public and {{ zendesk_utc_date('comments.created_at') }} <= {{ as_of_date() }}
    group by 1, 2

),

ratings as (

    select
        cast(date_trunc('week', {{ zendesk_utc_date('ratings.offered_at') }}) as date) as week_start,
        ratings.assignee_id as agent_id,
        count(*) filter (where ratings.is_answered) as csat_answered,
        count(*) filter (where ratings.score = 'good') as csat_good,
        count(*) filter (where ratings.score = 'bad') as csat_bad

    from {{ ref('stg_zendesk__satisfaction_ratings') }} as ratings
    inner join tickets on ratings.ticket_id = tickets.ticket_id
    where ratings.assignee_id is not null and {{ zendesk_utc_date('ratings.offered_at') }} <= {{ as_of_date() }}
    group by 1, 2

),

surveys as (

    select
        cast(date_trunc('week', {{ zendesk_utc_date('surveys.responded_at') }}) as date) as week_start,
        tickets.assignee_id as agent_id,
        count(*) as rating_5pt_responses,
        avg(surveys.rating) as rating_5pt_average

    from {{ ref('stg_zendesk__survey_responses') }} as surveys
    inner join tickets on surveys.ticket_id = tickets.ticket_id
    where tickets.assignee_id is not null and {{ zendesk_utc_date('surveys.responded_at') }} <= {{ as_of_date() }}
    group by 1, 2

),

keys as (

    select week_start, agent_id from solved
    union
    select week_start, agent_id from replies
    union
    select week_start, agent_id from ratings
    union
    select week_start, agent_id from surveys

),

final as (

    select
        keys.week_start,
        keys.agent_id,
        agents.agent_name,
        coalesce(solved.tickets_solved, 0) as tickets_solved,
        coalesce(replies.public_replies, 0) as public_replies,
        solved.first_reply_median_calendar_minutes,
        solved.first_reply_median_business_minutes,
        solved.full_resolution_median_calendar_minutes,
        solved.full_resolution_median_business_minutes,
        solved.one_touch_rate,
        solved.reopen_rate,
        coalesce(ratings.csat_answered, 0) as csat_answered,
        coalesce(ratings.csat_good, 0) as csat_good,
        coalesce(ratings.csat_bad, 0) as csat_bad,
        case when ratings.csat_good + ratings.csat_bad > 0
            then cast(ratings.csat_good as double) / (ratings.csat_good + ratings.csat_bad) end as csat_percent,
        coalesce(surveys.rating_5pt_responses, 0) as rating_5pt_responses,
        surveys.rating_5pt_average

    from keys
    inner join agents on keys.agent_id = agents.agent_id
    left join solved on keys.week_start = solved.week_start and keys.agent_id = solved.agent_id
    left join replies on keys.week_start = replies.week_start and keys.agent_id = replies.agent_id
    left join ratings on keys.week_start = ratings.week_start and keys.agent_id = ratings.agent_id
    left join surveys on keys.week_start = surveys.week_start and keys.agent_id = surveys.agent_id

)

select * from final
