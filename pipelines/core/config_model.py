"""What the configuration files (partner registry, agenda, suites) share: a strict pydantic base and
error messages that name the file's field, e.g. `indicators[grade8_math].baseline.value: ...`."""

from __future__ import annotations

import re
from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """A configuration entry: unknown keys are mistakes, and a loaded entry never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _where(loc: tuple, data: object, named_lists: Collection[str]) -> str:
    """'indicators[grade8_math].baseline.value' from pydantic's ('indicators', 2, 'baseline', 'value'):
    items of the lists in `named_lists` are named by their `id` (or `code`)."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, str) and part.startswith(("function-", "tagged-union")):
            continue
        if isinstance(part, int) and parts and parts[-1] in named_lists:
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = item.get("id", item.get("code")) if isinstance(item, dict) else None
            parts[-1] += f"[{name}]" if isinstance(name, str) else f"[{part}]"
        else:
            parts.append(str(part))
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def describe_errors(error: ValidationError, data: object = None, named_lists: Collection[str] = ()) -> str:
    """Every problem pydantic found, each as 'field.path: what is wrong', joined by '; '."""
    lines = []
    for item in error.errors():
        where = _where(item["loc"], data, named_lists)
        message = item["msg"].removeprefix("Value error, ")
        if where and re.match(r"^[a-z_][a-z0-9_.]*: ", message):  # a validator naming the field inside
            lines.append(f"{where}.{message}")
        else:
            lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)
