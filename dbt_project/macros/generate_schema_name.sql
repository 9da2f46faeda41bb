{#
    Use the configured schema verbatim instead of dbt's default
    `<target_schema>_<custom_schema>`: marts land in `main` (the target schema)
    and staging views in `staging`.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
