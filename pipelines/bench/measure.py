"""Wall time and resident memory of this process and its children, per stage.

A sampling thread adds up the resident set of this process and every descendant (dbt runs as a
child of the Dagster step) every INTERVAL seconds; a stage's peak is the highest sample taken
during it. `getrusage` gives the exact peaks of this process (SELF) and of its largest waited-for
child (CHILDREN), which sampling can miss.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from dataclasses import dataclass, field

import psutil

INTERVAL = 0.1
MB = 1024 * 1024


def tree_rss_bytes(root: psutil.Process) -> int:
    total = 0
    for process in (root, *root.children(recursive=True)):
        try:
            total += process.memory_info().rss
        except psutil.Error:  # it ended meanwhile
            pass
    return total


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
