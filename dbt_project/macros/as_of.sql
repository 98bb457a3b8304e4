{#- The metrics' "today": var('as_of_date') when pinned (sandbox worlds have a fixed reference date), else current_date. -#}
{% macro as_of_date() -%}
    {%- if var('as_of_date') -%}cast('{{ var("as_of_date") }}' as date){%- else -%}current_date{%- endif -%}
{%- endmacro %}
