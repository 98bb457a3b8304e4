-- One row per Klaviyo email message (a campaign's or a flow's), with the campaign or flow it belongs to.
select message_id, source_type, source_id, source_name, subject
from {{ ref('int_klaviyo__messages_unioned') }}
