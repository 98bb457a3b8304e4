{#- The UTC calendar day of a timestamptz: every Zendesk tile counts days in UTC, whatever the session's time zone. -#}
{% macro zendesk_utc_date(ts) -%}
    cast(({{ ts }}) at time zone 'UTC' as date)
{%- endmacro %}

{#- Minutes from a Zendesk {calendar, business} JSON pair, e.g. a ticket metric set's reply_time_in_minutes. -#}
{% macro zendesk_minutes(json_col, kind) -%}
    cast(({{ json_col }}) ->> '{{ kind }}' as integer)
{%- endmacro %}

{#- The instant a UTC calendar day ends (midnight after it), as a timestamptz: "at end of day" states read here. -#}
{% macro zendesk_day_end(day) -%}
    ((cast({{ day }} as timestamp) + interval 1 day) at time zone 'UTC')
{%- endmacro %}
