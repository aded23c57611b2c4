"""The package's layers (pyproject.toml, [tool.importlinter]): the ground floor `pipelines.core`, the
stages in pipeline order (ingest, quality, models, publish, alerts), the merged definitions, then the
tooling (sample, bench, cli). A module imports from its own layer and the layers below it, so a stage
can be read, tested and changed without the stages after it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import NamedTuple

import grimp
import pytest

from pipelines.core.home import PROJECT_ROOT

PYPROJECT = PROJECT_ROOT / "pyproject.toml"
PACKAGE = PROJECT_ROOT / "pipelines"


class Crossing(NamedTuple):
    importer: str
    imported: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{_file(self.importer)}:{self.line} imports {self.imported} ({self.why})"


def _file(module: str) -> str:
    path = PROJECT_ROOT.joinpath(*module.split("."))
    return str((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(PROJECT_ROOT))


def _contract(contract_id: str) -> dict:
    contracts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    return next(contract for contract in contracts if contract["id"] == contract_id)


def _layers() -> list[list[str]]:
    """The layers from the top down, each a list of its (independent) modules' full names."""
    contract = _contract("layers")
    [container] = contract["containers"]
    return [[f"{container}.{name.strip()}" for name in layer.split("|")] for layer in contract["layers"]]


def _place(module: str, layers: list[list[str]]) -> tuple[int, str] | None:
    """(height from the ground floor, top module of its layer), or None outside every layer."""
    for depth, layer in enumerate(layers):
        for top in layer:
            if module == top or module.startswith(f"{top}."):
                return len(layers) - 1 - depth, top
    return None


def _crossings() -> list[Crossing]:
    """Every import, at module level or inside a function or `if TYPE_CHECKING:`, that breaks a contract."""
    graph = grimp.build_graph("pipelines", cache_dir=None)  # the graph import-linter checks
    layers = _layers()
    sample = _contract("sample")
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            where, target = _place(importer, layers), _place(imported, layers)
            if where is None or target is None:
                continue  # the root package; the layers' completeness is its own test
            if target[0] > where[0]:
                why = f"stage {target[1]} is later than {where[1]}"
            elif target[0] == where[0] and target[1] != where[1]:
                why = f"{where[1]} and {target[1]} are independent of each other"
            elif any(importer.startswith(source) for source in sample["source_modules"]) and any(
                imported == forbidden or imported.startswith(f"{forbidden}.")
                for forbidden in sample["forbidden_modules"]
            ):
                why = f"{where[1]} builds on pipelines.core only"
            else:
                continue
            for detail in graph.get_import_details(importer=importer, imported=imported):
                found.append(Crossing(importer, imported, detail["line_number"], why))
    return found


def test_every_module_of_the_package_belongs_to_a_layer() -> None:
    layers = _layers()
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT)
        # A folder without __init__.py is invisible to the import contracts (and left out of the wheel).
        problems += [
            f"{folder.relative_to(PROJECT_ROOT)} has no __init__.py"
            for folder in path.parents
            if PACKAGE in (folder, *folder.parents) and not (folder / "__init__.py").exists()
        ]
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        if module != "pipelines" and _place(module, layers) is None:
            problems.append(f"{relative} ({module}) is in no layer of [tool.importlinter] in pyproject.toml")
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), str(PYPROJECT), "--no-cache", "--no-logo"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    if "Contracts: " not in result.stdout:  # not a broken contract: the check itself could not run
        pytest.fail(f"lint-imports could not check the contracts:\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, "imports that break the package's layers:\n" + "\n".join(
        str(crossing) for crossing in _crossings()
    )
