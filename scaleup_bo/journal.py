"""The journal: a run's trials on disk as they finish, so a killed run resumes.

A :class:`Journal` is a JSON-lines file: a header describing the run (search space,
random state, the whole :class:`~scaleup_bo.strategy.Strategy`), then one line per
finished trial, each flushed and fsynced before the next proposal. Constructing an
optimizer again with the same file replays the recorded trials; one written for
another search space or seed is refused, and so is one written under another strategy
unless the caller accepts the change (:class:`JournalFile`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaleup_bo.exceptions import DataError
from scaleup_bo.history import SCHEMA_VERSION, Trial, _dumps, as_stored

if TYPE_CHECKING:
    from scaleup_bo.strategy import Strategy

__all__ = ["Journal", "JournalFile", "open_journal"]

logger = logging.getLogger("scaleup_bo")


@dataclass(frozen=True)
class JournalFile:
    """A journal path with how to resume it.

    Args:
        path: The ``.jsonl`` file.
        accept_strategy_change: Resume a journal written under another strategy (or
            acquisition, or ``n_initial_points``): the new settings apply from now on,
            with a warning naming each change. By default that is refused.

    Example:
        >>> spec = JournalFile("run.jsonl", accept_strategy_change=True)
    """

    path: str | os.PathLike[str]
    accept_strategy_change: bool = False


class Journal:
    """Append-only JSON-lines record of finished trials, durable after each one.

    The first line is a header describing the run (search space, random state...);
    every other line is one trial. Each line is flushed and fsynced before
    :meth:`append` returns, so a run killed at any moment loses at most the
    evaluation in progress. A truncated last line (killed mid-write) is dropped when
    the journal is reopened.

    Args:
        path: The ``.jsonl`` file (created if missing).
        header: JSON-friendly description of the run, written as the first line.
        check: Keys of ``header`` that an existing journal must agree on (default:
            all); the existing header is kept as :attr:`header`.

    Example:
        >>> journal = Journal("run.jsonl", {"search_space": space.describe()})
        >>> journal.trials          # trials recorded by an earlier, killed run
        []
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: dict[str, Any],
        *,
        check: Sequence[str] | None = None,
    ) -> None:
        # A file without a complete line holds at most a header cut mid-write: start afresh.
        # Anything else there is someone's data: never overwritten.
        self.path = Path(path)
        self.trials: list[Trial] = []
        self.header = {"type": "header", "schema_version": SCHEMA_VERSION, **header}
        raw = self.path.read_bytes() if self.path.exists() else b""
        start = json.dumps({"type": "header"})[:-1].encode()  # how a header line begins
        if b"\n" in raw:
            keys = list(header) if check is None else list(check)
            self._read_existing({k: header[k] for k in keys})
        elif raw and not (raw.startswith(start) or start.startswith(raw)):
            raise DataError(
                f"{self.path} exists and is not a scaleup_bo journal: not overwriting it "
                "(give another journal path)."
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(b"")
            self._write_line(self.header)

    def _read_existing(self, header: dict[str, Any]) -> None:
        raw = self.path.read_bytes()
        records = []
        good_bytes = 0
        for i, line in enumerate(raw.splitlines(keepends=True)):
            try:
                record = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                if not line.endswith(b"\n"):  # killed mid-write: drop the partial line
                    break
                what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "not JSON"
                raise DataError(
                    f"journal {self.path} is corrupt at line {i + 1}: it is {what} "
                    f"({line[:60]!r}...)."
                ) from exc
            records.append(record)
            good_bytes += len(line)
        if not records or not isinstance(records[0], dict) or records[0].get("type") != "header":
            raise DataError(f"{self.path} is not a scaleup_bo journal (no header line).")
        found = records[0]
        if found.get("schema_version") != SCHEMA_VERSION:
            raise DataError(
                f"journal {self.path} has schema_version {found.get('schema_version')!r}, "
                f"expected {SCHEMA_VERSION}."
            )
        for key, recorded in _differences(found, header).items():
            raise DataError(
                f"journal {self.path} was written for another run: its {key} is "
                f"{recorded!r}, this run's is {header[key]!r}."
            )
        self.header = found
        self.trials = []
        for i, r in enumerate(records[1:], start=2):
            if not isinstance(r, dict) or r.get("type") != "trial":
                raise DataError(f"journal {self.path}: line {i} is not a trial.")
            try:
                self.trials.append(Trial.from_dict(r))
            except DataError as exc:
                raise DataError(f"journal {self.path}: line {i}: {exc}") from exc
        for expected, trial in enumerate(self.trials):
            if trial.number != expected:
                raise DataError(f"journal {self.path}: trial {trial.number} is out of order.")
        if good_bytes != len(raw) or not raw.endswith(b"\n"):
            with open(self.path, "r+b") as f:  # drop a partial line; end with a newline
                f.truncate(good_bytes)
                if not raw[:good_bytes].endswith(b"\n"):
                    f.seek(0, os.SEEK_END)
                    f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())

    def _write_line(self, record: dict[str, Any]) -> None:
        # One write of one whole line, opened per record: no handle outlives a call.
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(_dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def differences(self, values: dict[str, Any]) -> dict[str, Any]:
        """The recorded header values of the keys of ``values`` that the header holds
        with another value (compared as JSON stores them)."""
        return _differences(self.header, values)

    def rewrite_header(self, header: dict[str, Any]) -> None:
        """Start the journal afresh with ``header``: only while it holds no trial (a run
        that was stopped before its first result leaves nothing to keep). A header that
        already records the same values is left as it is."""
        if self.trials:
            raise DataError(f"journal {self.path} holds trials: its header is kept.")
        if not self.differences(header) and header.keys() <= self.header.keys():
            return
        self.header = {"type": "header", "schema_version": SCHEMA_VERSION, **header}
        self.path.write_bytes(b"")
        self._write_line(self.header)

    def append(self, trial: Trial) -> None:
        """Write one finished trial durably."""
        self._write_line({"type": "trial", **trial.to_dict()})


def _differences(recorded: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: recorded[k] for k, v in values.items() if k in recorded and recorded[k] != as_stored(v)
    }


def open_journal(
    journal: str | os.PathLike[str] | JournalFile,
    run: Mapping[str, Any],
    settings: Mapping[str, Any],
    strategy: Strategy,
    *,
    check_seed: bool,
) -> Journal:
    """Open (or resume) the journal of a run.

    Args:
        journal: The path, or a :class:`JournalFile` saying how to resume it.
        run: What an existing journal must agree on: ``search_space`` and
            ``random_state`` (the seed only with ``check_seed``; else the recorded one is
            kept, and resuming continues its random stream).
        settings: The run's ``strategy`` (as a dict), ``acq_func``, ``acq_func_kwargs``
            and ``n_initial_points``: a journal holding trials made under other settings
            is refused, naming each field, unless ``accept_strategy_change``.
        strategy: The run's strategy (compares callables by name).

    Returns:
        The journal; its :attr:`Journal.header` holds the random state to use and its
        :attr:`Journal.trials` the trials to replay.
    """
    spec = journal if isinstance(journal, JournalFile) else JournalFile(journal)
    if not isinstance(spec.path, (str, os.PathLike)):
        raise DataError(f"journal must be a file path, got {spec.path!r}.")
    check = ["search_space"] + ["random_state"] * check_seed
    opened = Journal(spec.path, {**run, **settings}, check=check)
    if not opened.trials:  # nothing ran under the recorded settings: record this run's
        seed = int(opened.header["random_state"])
        opened.rewrite_header({**run, **settings, "random_state": seed})
        return opened
    changed = _changed_settings(opened.header, settings, strategy)
    if changed and not spec.accept_strategy_change:
        raise DataError(
            f"journal {spec.path} was written under another strategy: "
            + "; ".join(changed)
            + ". Resume it with the settings it records, or pass journal=JournalFile("
            f"{str(spec.path)!r}, accept_strategy_change=True) to go on under these."
        )
    if changed:
        logger.warning("resuming %s under a changed strategy: %s", spec.path, "; ".join(changed))
    logger.info("resuming from %s: %d trials", spec.path, len(opened.trials))
    return opened


def _changed_settings(
    header: Mapping[str, Any], settings: Mapping[str, Any], strategy: Strategy
) -> list[str]:
    """The settings recorded in a journal's header that differ from this run's, in words
    (a header written before strategies were recorded whole holds them flat)."""
    recorded = header.get("strategy")
    if not isinstance(recorded, Mapping):
        recorded = {k: header[k] for k in settings["strategy"] if k in header}
    changed = [f"{k} was {a!r}, now {b!r}" for k, (a, b) in strategy.differences(recorded).items()]
    for key in ("acq_func", "acq_func_kwargs", "n_initial_points"):
        if key in header and as_stored(header[key]) != as_stored(settings[key]):
            changed.append(f"{key} was {header[key]!r}, now {settings[key]!r}")
    return changed
