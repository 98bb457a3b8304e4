-- One row per Klaviyo list or segment.
select group_id, group_type, group_name, created_at, updated_at
from {{ ref('stg_klaviyo__groups') }}
