"""A per-item JSONL cache: one line appended per finished item, so a killed run loses nothing.

Each line is flushed to the OS at once (a killed process loses nothing); fsync runs at most once a second and
at the end, because syncing every line would cost more than writing an offline item (a crash of the whole
machine can lose the last second).

The last line for an id wins, so a rerun that retries a failed item simply appends its new result. A line torn
by a kill mid-write is ignored (that item is redone). `spec.json` beside the cache records the settings the
cache was made with; reusing a folder with other settings is refused rather than silently mixing results.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from stagewise.data.sources import DataError
from stagewise.utils import atomic_write_json

log = logging.getLogger(__name__)


def fingerprint(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class CacheMismatch(DataError):
    """The output folder holds results made with other settings."""


class ItemCache:
    def __init__(self, path: str | Path, spec: dict, fresh: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        spec_path = self.path.with_suffix(".spec.json")
        spec = json.loads(json.dumps(spec, default=str))  # compare as it will read back
        if fresh:
            self.path.unlink(missing_ok=True)
        if self.path.exists() and spec_path.exists() and json.loads(spec_path.read_text()) != spec:
            raise CacheMismatch(
                f"{self.path}: cached results were made with other settings "
                f"(see {spec_path}); use another output folder or --fresh"
            )
        atomic_write_json(spec_path, spec)
        self.records: dict[str, dict] = {}
        torn = 0
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    self.records[rec["key"]] = rec
                except (json.JSONDecodeError, KeyError, TypeError):
                    torn += 1
        if torn:
            log.warning("%s: %d torn line(s) ignored; those items are redone", self.path, torn)
        self._file = None
        self._synced = time.monotonic()

    def done(self, key: str, fp: str | None = None) -> bool:
        """True when `key` finished successfully (failed items are retried) from the same input (`fp`, a
        fingerprint of what was asked: an edited caption or question is asked again)."""
        rec = self.records.get(key)
        return bool(rec and rec.get("ok") and rec.get("fp") == fp)

    def add(self, records: list[dict]) -> None:
        if self._file is None:
            torn_tail = False
            if self.path.exists() and self.path.stat().st_size:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    torn_tail = f.read(1) != b"\n"
            self._file = open(self.path, "a")  # noqa: SIM115 (kept open across calls; closed by close())
            if torn_tail:  # a kill mid-line: start on a fresh line so the next record stays whole
                self._file.write("\n")
        self._file.write("".join(json.dumps(r) + "\n" for r in records))
        self._file.flush()
        if time.monotonic() - self._synced > 1.0:
            os.fsync(self._file.fileno())
            self._synced = time.monotonic()
        for r in records:
            self.records[r["key"]] = r

    def close(self) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def __enter__(self) -> ItemCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
