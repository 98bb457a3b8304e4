-- The Shopify -> Klaviyo profile sync's log (written by pipelines/klaviyo/sync.py, not by the extraction): the
-- table only exists once a sync has run, so until then this model is an empty, typed relation.
{%- set log_table = adapter.get_relation(database='raw_klaviyo', schema='raw_klaviyo', identifier='profile_sync_log') if execute else none %}

with

{% if log_table is not none %}
source as (

    select * from {{ log_table }}

),
{% else %}
source as (

    select
        cast(null as varchar) as email,
        cast(null as bigint) as customer_id,
        cast(null as varchar) as payload_hash,
        cast(null as varchar) as status,
        cast(null as varchar) as error_detail,
        cast(null as varchar) as job_id,
        cast(null as timestamptz) as synced_at
    where false

),
{% endif %}

renamed as (

    select
        lower(email) as email,
        cast(customer_id as bigint) as customer_id,
        payload_hash,
        status as sync_status,
        error_detail,
        job_id as import_job_id,
        cast(synced_at as timestamptz) as synced_at,
        status = 'error' as is_rejected

    from source

)

select * from renamed
