{#- Generic test: every value of the column has DuckDB type `type` (e.g. 'bigint', 'varchar', 'timestamp with time
    zone'). Put on the raw columns the tiles depend on: if a provider changes a field's type and the pipeline's own
    drift check could not see it (a first load has no committed schema to compare with), dlt loads it under another
    column and this one is missing or empty; the test then fails (or errors on the missing column) and the publish
    step keeps the last good tiles. -#}
{% test column_type(model, column_name, type) %}
select typeof({{ column_name }}) as found_type, count(*) as n
from {{ model }}
where {{ column_name }} is not null and lower(typeof({{ column_name }})) != lower('{{ type }}')
group by 1
{% endtest %}
