"""Wall time and resident memory of this process and its children, per stage.

A sampling thread adds up the resident set of this process and every descendant (dbt runs as a
child of the Dagster step) every INTERVAL seconds; a stage's peak is the highest sample taken
during it. `getrusage` gives the exact peaks of this process (SELF) and of its largest waited-for
child (CHILDREN), which sampling can miss.
"""

from __future__ import annotations

import contextlib
import platform
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

INTERVAL = 0.1
MB = 1024 * 1024


def tree_rss_bytes(root: psutil.Process) -> int:
    total = 0
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.Error):  # it ended meanwhile
            total += process.memory_info().rss
    return total


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def _import_seconds(python: Path, module: str) -> float | None:
    started = time.perf_counter()
    try:
        done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return round(time.perf_counter() - started, 2) if done.returncode == 0 else None


def machine(dbt: Path) -> dict[str, Any]:
    """What the figures were measured on. The absolute goals (definitions load, a delivery end to end)
    depend mostly on how fast the machine starts Python programs: a new interpreter importing Dagster,
    GX (a delivery's check step) and dbt-core (every dbt build, in dbt's own environment) is timed too."""
    dbt_python = dbt.parent / "python"
    imports = {
        "dagster": (Path(sys.executable), "dagster"),
        "great_expectations": (Path(sys.executable), "great_expectations"),
        "dbt": (dbt_python, "dbt.cli.main"),
    }
    return {
        "cpu": _cpu_model(),
        "cpus": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: metadata.version(name) for name in ("dagster", "dagster-dbt", "great-expectations", "duckdb")
        },
        "import_s": {
            name: _import_seconds(python, module) if python.exists() else None
            for name, (python, module) in imports.items()
        },
    }


def rusage_peaks_mb() -> dict[str, float]:
    """getrusage's peak RSS of this process and of its largest waited-for child, in MB."""
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return {
        "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / MB,
        "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale / MB,
    }


@dataclass
class Sampler:
    """Samples the process tree's RSS in a daemon thread between start() and stop()."""

    interval: float = INTERVAL
    samples: list[tuple[float, int]] = field(default_factory=list)  # (time.time(), bytes)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.samples.append((time.time(), tree_rss_bytes(me)))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def peak_mb(self, start: float | None = None, end: float | None = None) -> float | None:
        """Highest sample in [start, end] (widened by one interval, so short stages get one), in MB."""
        low = (start if start is not None else float("-inf")) - self.interval
        high = (end if end is not None else float("inf")) + self.interval
        inside = [rss for when, rss in self.samples if low <= when <= high]
        return round(max(inside) / MB, 1) if inside else None


@dataclass
class Stopwatch:
    """Named, possibly repeated, timed sections: each stage's seconds and its time windows."""

    seconds: dict[str, float] = field(default_factory=dict)
    windows: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def section(self, name: str) -> _Section:
        return _Section(self, name)

    def add(self, name: str, start: float, end: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + (end - start)
        self.windows.setdefault(name, []).append((start, end))

    def peaks_mb(self, sampler: Sampler) -> dict[str, float | None]:
        peaks = {}
        for name, windows in self.windows.items():
            found = [peak for start, end in windows if (peak := sampler.peak_mb(start, end)) is not None]
            peaks[name] = max(found) if found else None
        return peaks


class _Section:
    def __init__(self, watch: Stopwatch, name: str) -> None:
        self._watch, self._name = watch, name

    def __enter__(self) -> None:
        self._start = time.time()

    def __exit__(self, *exc: object) -> None:
        self._watch.add(self._name, self._start, time.time())
