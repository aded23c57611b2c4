"""The privacy contract every published output obeys, declared once per mart in its dbt yml
(`config.meta.privacy`) and read from the dbt manifest by the publish gate and the scorecard.

A rule says: when the row's `flag` is false, every `sizes` column is at least the minimum cell
size (agenda.yml `privacy.min_cell_size`); when it is true, every `hidden` column is empty.
"""

from __future__ import annotations

from dataclasses import dataclass

MARTS_SCHEMA = "marts"


@dataclass(frozen=True)
class PrivacyRule:
    """When `flag` is false every `sizes` column is at least the minimum; when true, `hidden` are NULL."""

    flag: str
    sizes: tuple[str, ...]
    hidden: tuple[str, ...]


def privacy_rules(manifest: dict) -> dict[str, list[PrivacyRule]]:
    """Each mart's `config.meta.privacy` from the dbt manifest, by table name."""
    rules = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["config"].get("schema") == MARTS_SCHEMA:
            declared = node["config"].get("meta", {}).get("privacy")
            if declared is not None:
                rules[node["name"]] = [
                    PrivacyRule(rule["flag"], tuple(rule["sizes"]), tuple(rule["hidden"])) for rule in declared
                ]
    return rules


def hide_flagged(row: dict, rules: list[PrivacyRule]) -> dict:
    """The row with every column a rule hides emptied where its flag is set (readers apply the rule too)."""
    for rule in rules:
        if row[rule.flag]:
            row.update(dict.fromkeys(rule.hidden))
    return row
