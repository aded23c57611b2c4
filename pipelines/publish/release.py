"""Publish serving.duckdb, exports/ and site/ as one version that replaces the previous one in one step.

Each publish writes a complete set into a new folder `published/<n>/` under BACKBONE_HOME. The
symlink `published/current` names the version readers get, and the documented paths
`serving.duckdb`, `exports` and `site` are symlinks through it, so swapping `current` (one rename)
moves all three at once: a publish that dies at any point leaves readers the whole old set or the
whole new one. The version just replaced is kept, as a reader may be halfway through it (an analyst's
open serving.duckdb keeps its file either way); older versions, and whatever a dead publish left
behind, are removed by the next publish.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pipelines.core.home import Home, PublishedSet, share

CURRENT = "current"
T = TypeVar("T")


class Version(PublishedSet):
    """One complete published set, named by its number; its entries have the documented paths' names."""


def release(home: Home, write: Callable[[Version], T]) -> T:
    """Have `write` fill a new version, then make it current. If `write` raises, nothing changes for
    readers; its half-written version is removed by the next release."""
    _remove_leftovers(home)
    numbers = _numbers(home.published)
    version = Version(home.published / str(max(numbers, default=0) + 1))
    result = write(version)
    share(version.root)  # readable by the share group (if any) before readers can reach it
    if not (home.published / CURRENT).is_symlink():
        _adopt_unversioned(home)
    # The documented paths become links through `current` (once) before it moves, so that they all
    # move with it: a reader never finds a new serving.duckdb beside an old site.
    for documented in (home.serving, home.exports, home.site):
        _link_through_current(home, documented)
    _replace_with_link(home.published / CURRENT, Path(version.root.name))  # the one step readers see
    _remove_leftovers(home)
    return result


def _adopt_unversioned(home: Home) -> None:
    """Make what readers find now, a set published before versions existed or nothing, version 0 and
    current, so that the documented paths can become links that resolve to the same content."""
    before = Version(home.published / "0")
    before.root.mkdir(parents=True)
    if home.serving.is_file() and not home.serving.is_symlink():
        os.link(home.serving, before.serving)  # the same file: an analyst's open connection stays valid
    for documented, inside in ((home.exports, before.exports), (home.site, before.site)):
        if documented.is_dir() and not documented.is_symlink():
            shutil.copytree(documented, inside, copy_function=os.link)
        else:
            inside.mkdir()
    _replace_with_link(home.published / CURRENT, Path(before.root.name))


def _numbers(published: Path) -> list[int]:
    return [int(entry.name) for entry in published.iterdir() if entry.name.isdigit()] if published.is_dir() else []


def _remove_leftovers(home: Home) -> None:
    """Keep the current version and the one it replaced; remove every other entry of `published/`
    (older versions, a dead publish's half-written one, a link it did not finish swapping in)."""
    if not home.published.is_dir():
        return
    keep = {CURRENT}
    current = home.published / CURRENT
    if current.is_symlink():
        number = int(os.readlink(current))
        keep |= {str(n) for n in sorted(n for n in _numbers(home.published) if n <= number)[-2:]}
    for entry in home.published.iterdir():
        if entry.name not in keep:
            _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()


def _replace_with_link(path: Path, target: Path) -> None:
    """Point the symlink `path` at `target` in one rename: a reader finds the old link or the new one."""
    staged = path.with_name(path.name + ".new")
    _remove(staged)  # left by a publish that died here, or an earlier layout's staged copy
    os.symlink(target, staged)
    os.replace(staged, path)


def _link_through_current(home: Home, documented: Path) -> None:
    """Make `documented` (e.g. BACKBONE_HOME/site) a symlink to published/current/site, once."""
    target = Path(home.published.name) / CURRENT / documented.name
    if documented.is_symlink() and Path(os.readlink(documented)) == target:
        return
    if documented.is_dir() and not documented.is_symlink():
        # A folder published before versions existed (or the empty one Home.ensure makes; version 0
        # holds its files) cannot be renamed over: it moves into published/, to be removed, and the
        # link takes its place. This once, a reader may find no such folder for an instant.
        documented.rename(home.published / f"{documented.name}.before-versions")
    _replace_with_link(documented, target)
