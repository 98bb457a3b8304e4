-- An open dispute awaiting our response without an evidence deadline would never raise the alarm.
select *
from {{ ref('stripe_disputes') }}
where status in ('needs_response', 'warning_needs_response')
    and (evidence_due_at is null or days_left_for_evidence is null)
