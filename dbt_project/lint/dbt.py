"""What sqlfluff's Jinja templater needs of dbt's `dbt` namespace to render the models for linting
(the dbt templater would need dbt-core in the linting environment and a connection); the SQL these
return is DuckDB's, the project's default target."""


def type_string() -> str:
    return "varchar"


def type_int() -> str:
    return "integer"


def type_bigint() -> str:
    return "bigint"


def dateadd(datepart: str, interval: object, from_date_or_timestamp: str) -> str:
    return f"({from_date_or_timestamp} + interval ({interval}) {datepart})"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    return f"date_diff('{datepart}', {first_date}, {second_date})"
