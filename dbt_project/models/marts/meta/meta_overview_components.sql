-- Meta's contribution to tiles.business_overview: ad spend per reporting period and ad-account currency (all
-- campaigns, the same spend as ads_campaign_roi). Blended ROAS (Shopify net sales / ad spend) and new-customer
-- acquisition cost (ad spend / Shopify new customers) combine it with Shopify's components of the same currency in
-- business_overview, so they never depend on Meta's attribution. The detail states what Meta claims for itself over
-- the period (its own ROAS under the rows' attribution setting), for the reader to compare.
with

periods as (

    select * from {{ ref('reporting_periods') }}

),

campaign_days as (

    select * from {{ ref('fct_meta__ad_campaign_days') }}

),

currencies as (

    select distinct currency from campaign_days
    where currency is not null

),

grid as (

    select periods.*, currencies.currency
    from periods
    cross join currencies

),

wide as (

    select
        grid.period_days,
        grid.currency,
        coalesce(sum(campaign_days.spend) filter (where campaign_days.metric_date between grid.period_start and grid.period_end), 0) as cur_ad_spend,
        coalesce(sum(campaign_days.spend) filter (where campaign_days.metric_date between grid.previous_start and grid.previous_end), 0) as prev_ad_spend,
        sum(campaign_days.purchase_value) filter (where campaign_days.metric_date between grid.period_start and grid.period_end) as cur_purchase_value,
        string_agg(distinct campaign_days.attribution_setting, ', ' order by campaign_days.attribution_setting) filter (where campaign_days.metric_date between grid.period_start and grid.period_end) as attribution_settings

    from grid
    left join campaign_days
        on campaign_days.currency = grid.currency
        and campaign_days.metric_date between grid.previous_start and grid.period_end
    group by 1, 2

),

unpivoted as (

    {{ unpivot_overview_components('wide', ['ad_spend']) }}

),

final as (

    select
        unpivoted.component,
        unpivoted.currency,
        unpivoted.period_days,
        unpivoted.current_value,
        unpivoted.previous_value,
        cast(
            case
                when wide.cur_ad_spend > 0
                    then 'Meta''s own ROAS: ' || printf('%.2f', wide.cur_purchase_value / wide.cur_ad_spend)
                        || ' (' || wide.attribution_settings || ' attribution; recent days'' purchases still arriving)'
            end
            as varchar
        ) as detail

    from unpivoted
    inner join wide
        on unpivoted.period_days = wide.period_days
        and unpivoted.currency = upper(wide.currency)

)

select * from final
