"""Quoting for the few SQL statements built from names (tables, columns) rather than parameters."""


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
