-- Attributed revenue never exceeds order revenue: per order, and in total across campaigns and flows.
select order_id, attributed_revenue, order_revenue
from {{ ref('fct_order_attributions') }}
where attributed_revenue > order_revenue
    or attributed_revenue < 0

union all

select null, sum(attributed_revenue), (select sum(order_revenue) from {{ ref('fct_order_attributions') }})
from {{ ref('klaviyo_email_attribution') }}
where source_type in ('campaign', 'flow')
having sum(attributed_revenue) > (select sum(order_revenue) from {{ ref('fct_order_attributions') }})
