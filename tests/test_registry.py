"""The partner registry: the bundled partners load, and a partner file's mistake names file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core.home import EXPECTATIONS_DIR, PARTNERS_DIR
from pipelines.core.registry import RegistryError, load_registry
from tests.conftest import partner_files_with


def test_the_five_sample_partners_load_with_their_datasets() -> None:
    registry = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR)
    assert sorted(registry.partners) == [
        "bright_futures_mentoring",
        "early_learning_coalition",
        "riverbend_college",
        "riverbend_isd",
        "workforce_board",
    ]
    kinds = {partner.id: partner.delivery.kind for partner in registry.partners.values()}
    assert kinds == {
        "riverbend_isd": "csv_drop",
        "early_learning_coalition": "excel",
        "riverbend_college": "api",
        "workforce_board": "sql",
        "bright_futures_mentoring": "csv_drop",
    }
    assert len(registry.datasets) == 8
    assert registry.dataset("assessments").partner.owners == [
        "mlopez@riverbend-isd.example.org",
        "dchen@riverbend-isd.example.org",
    ]


@pytest.mark.parametrize(
    ("partner", "old", "new", "expected"),
    [
        ("riverbend_isd", "cadence: per_term", "cadance: per_term", "cadance: Extra inputs are not permitted"),
        (
            "bright_futures_mentoring",
            "contacts:\n  - name: Sam Rivera\n    email: sam@brightfutures.example.org\n    role: Program manager\n",
            "contacts: []\n",
            "contacts: List should have at least 1 item",
        ),
        (
            "riverbend_isd",
            "email: mlopez@riverbend-isd.example.org",
            "email: mlopez.riverbend-isd.example.org",
            "contacts.0.email: value is not a valid email address",
        ),
        ("early_learning_coalition", "kind: excel", "kind: ftp", "delivery: Input tag 'ftp' found using 'kind'"),
        ("riverbend_isd", "  graduation:\n", "  graduations:\n", "datasets.graduations: no suite"),
        ("riverbend_isd", "      grade: Tested Grade\n", "", "datasets.assessments.columns: missing mapping for grade"),
        (
            "riverbend_college",
            "    endpoint: /v1/awards\n",
            "    files: awards.csv\n",
            "datasets.completion: 'endpoint' is required for api deliveries",
        ),
    ],
)
def test_a_mistake_in_a_partner_file_names_the_file_and_field(
    tmp_path: Path, partner: str, old: str, new: str, expected: str
) -> None:
    folder = partner_files_with(tmp_path, partner, old, new)
    with pytest.raises(RegistryError) as caught:
        load_registry(folder, EXPECTATIONS_DIR)
    message = str(caught.value)
    assert f"{partner}.yml" in message
    assert expected in message
