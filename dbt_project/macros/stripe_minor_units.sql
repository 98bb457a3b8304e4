{#- Divisor from a Stripe amount in the currency's minor unit to the major unit: zero-decimal currencies have none
    (https://docs.stripe.com/currencies#zero-decimal). Expects a `currency` column (Stripe's lower-case codes). -#}
{% macro stripe_minor_units() -%}
    case when currency in ('bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf') then 1 else 100 end
{%- endmacro %}
