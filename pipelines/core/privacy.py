"""The privacy contract every published output obeys, declared once per mart in its dbt yml
(`config.meta.privacy`) and read from the dbt manifest by the publish gate and the scorecard.

A rule says: when the row's `flag` is false, every `sizes` column (a group's size) is at least the
minimum cell size (agenda.yml `privacy.min_cell_size`), and every `counts` column (people in the group
with an outcome) and every complement (`whole` minus `part`: those without it) is 0 or at least the
minimum (agenda.yml `privacy.small_counts`: 'suppress'); when it is true, every `hidden` column is empty.
"""

from __future__ import annotations

from dataclasses import dataclass

MARTS_SCHEMA = "marts"


@dataclass(frozen=True)
class PrivacyRule:
    """When `flag` is false every `sizes` column is at least the minimum and every `counts` column and
    `complements` difference (whole - part) is 0 or at least it; when true, `hidden` are NULL."""

    flag: str
    sizes: tuple[str, ...]
    hidden: tuple[str, ...]
    counts: tuple[str, ...] = ()
    complements: tuple[tuple[str, str], ...] = ()


def privacy_rules(manifest: dict) -> dict[str, list[PrivacyRule]]:
    """Each mart's `config.meta.privacy` from the dbt manifest, by table name."""
    rules = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["config"].get("schema") == MARTS_SCHEMA:
            declared = node["config"].get("meta", {}).get("privacy")
            if declared is not None:
                rules[node["name"]] = [
                    PrivacyRule(
                        rule["flag"],
                        tuple(rule["sizes"]),
                        tuple(rule["hidden"]),
                        tuple(rule.get("counts", ())),
                        tuple((pair["part"], pair["whole"]) for pair in rule.get("complements", ())),
                    )
                    for rule in declared
                ]
    return rules


def hide_flagged(row: dict, rules: list[PrivacyRule]) -> dict:
    """The row with every column a rule hides emptied where its flag is set (readers apply the rule too)."""
    for rule in rules:
        if row[rule.flag]:
            row.update(dict.fromkeys(rule.hidden))
    return row
