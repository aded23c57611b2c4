"""dbt's `exceptions` object as sqlfluff's Jinja templater sees it. Its vars have no values outside
dbt, so a macro's guard against a missing var must not stop the rendering: the error renders as
nothing, and dbt itself still raises it."""


def raise_compiler_error(message: str) -> str:
    return ""
