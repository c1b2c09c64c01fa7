"""The run store: one JSON record per finished run, found again by the hash of its configuration.

What this adds over a loose folder of results: every run is keyed by
``shared.records.config_key(config)`` and lives at ``<out>/runs/<store>/<key>.json``, written
atomically (``shared.records.write_record``) the moment the run finishes. So

* an interrupted study resumes: a run whose record exists is not run again;
* a repeated study only re-plots;
* two experiments that ask for the same configuration in the same store share one run.

``ok`` and ``diverged`` records are final. A ``failed`` record (an exception, e.g. a missing data
file) is kept for the report but is retried on the next invocation, because failures usually come
from the environment or a bug that has since been fixed. What it leaves out: no locking between
two reproductions writing the same folder at once (the atomic rename keeps each file whole; the
second writer simply wins).
"""

from __future__ import annotations

from pathlib import Path

from shared.records import config_key, make_record, read_record, write_record

FINAL_STATUSES = ("ok", "diverged")


class Store:
    """Run records below ``root`` (``<out>/runs``): ``root / store / f"{key}.json"``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, store: str, config: dict) -> Path:
        return self.root / store / f"{config_key(config)}.json"

    def get(self, store: str, config: dict) -> dict | None:
        """The record of this configuration, or None if it never finished (or the file is bad)."""
        p = self.path(store, config)
        if not p.exists():
            return None
        try:
            return read_record(p)
        except (ValueError, OSError):
            return None  # a damaged file counts as unfinished; the rerun overwrites it

    def is_done(self, store: str, config: dict) -> bool:
        """True when the run finished for good (status ok or diverged)."""
        rec = self.get(store, config)
        return rec is not None and rec.get("status") in FINAL_STATUSES

    def put(
        self,
        store: str,
        config: dict,
        metrics: dict,
        status: str = "ok",
        error: str | None = None,
        wall_time: float | None = None,
        **extra,
    ) -> dict:
        """Build the record (``shared.records.make_record``) plus ``extra`` fields, write it
        atomically, and return it."""
        rec = make_record(store, config, metrics, status=status, error=error, wall_time=wall_time)
        rec.update(extra)
        write_record(self.path(store, config), rec)
        return rec
