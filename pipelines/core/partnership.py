"""The partnership's configuration, loaded once: the partner registry (with each dataset's suite)
and the common agenda, checked against each other. The Dagster definitions load it once per
code-location load and hand it to every stage; commands load it the same way."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from pipelines.core.agenda import Agenda, AgendaError, load_agenda
from pipelines.core.home import AGENDA_FILE, EXPECTATIONS_DIR, PARTNERS_DIR
from pipelines.core.registry import Registry, RegistryError, load_registry
from pipelines.core.suites import SuiteError

# What a configuration mistake raises; each message names the file and the field.
ConfigError = (RegistryError, SuiteError, AgendaError)


class Partnership(NamedTuple):
    registry: Registry
    agenda: Agenda


def load_partnership(
    partners_dir: Path = PARTNERS_DIR, expectations_dir: Path = EXPECTATIONS_DIR, agenda_file: Path = AGENDA_FILE
) -> Partnership:
    registry = load_registry(partners_dir, expectations_dir)
    return Partnership(registry, load_agenda(agenda_file, known_datasets=registry.dataset_names))
