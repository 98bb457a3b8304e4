{#- The Meta tiles' ratios, defined once (documented in _meta__macros.yml). -#}
{% macro meta_ratio(numerator, denominator, scale=6) -%}
    cast(case when {{ denominator }} > 0 then cast({{ numerator }} as double) / {{ denominator }} end as decimal(18, {{ scale }}))
{%- endmacro %}

{% macro meta_engagement_rate(engagements, reach) -%}
    {{ meta_ratio(engagements, reach, 4) }}
{%- endmacro %}
