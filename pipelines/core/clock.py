"""The moment a run judges due dates and mail backoff by.

Schedules stamp their runs with their tick time (tag `backbone/as_of`), so a run judges the moment
it was meant for even when it starts late or is re-executed from the UI; a run without the tag
judges the wall clock. Tests use the tag to travel in time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

AS_OF_TAG = "backbone/as_of"


def utc_now() -> dt.datetime:
    """Naive UTC, like every timestamp in the warehouse."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def as_of_tag(moment: dt.datetime) -> dict[str, str]:
    """The run tag for a naive UTC `moment`."""
    return {AS_OF_TAG: moment.isoformat(timespec="seconds")}


def run_as_of(tags: Mapping[str, str]) -> dt.datetime:
    stamped = tags.get(AS_OF_TAG)
    return dt.datetime.fromisoformat(stamped) if stamped else utc_now()
