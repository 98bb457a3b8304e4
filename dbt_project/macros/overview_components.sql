{#- Unpivot a wide CTE with `cur_<name>` / `prev_<name>` columns per (period_days, currency) into the rows of a
    provider's overview components (see models/tiles/core/business_overview.sql): one row per component. -#}
{% macro unpivot_overview_components(relation, names, currency='currency') -%}
    {%- for name in names %}
    select
        '{{ name }}' as component,
        cast(upper({{ currency }}) as varchar) as currency,
        cast(period_days as integer) as period_days,
        cast(cur_{{ name }} as decimal(18, 4)) as current_value,
        cast(prev_{{ name }} as decimal(18, 4)) as previous_value,
        cast(null as varchar) as detail
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
