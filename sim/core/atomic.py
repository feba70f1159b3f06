"""Atomic file writes: a reader sees the old files or all the new ones, never a part.

:func:`write_atomic` replaces one file; :func:`write_together` writes the files of one output
(a run's ``results.json``, ``replications.csv`` and figures) so that they appear together or
not at all.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never part.

    The bytes go to a temporary file beside ``path`` (same file system), are flushed to disk,
    and the file is then renamed over ``path``. The temporary file never outlives a failure.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        _write_file(temporary, data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_together(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (name -> bytes) into ``directory`` so they appear together or not at all.

    Every file is first written and flushed to disk in a temporary folder, so a full disk, a
    bad figure or Ctrl-C while writing leaves ``directory`` as it was. A folder that did not
    exist then appears whole, by one rename. Into an existing folder, the previous files of
    those names are moved aside and the new ones moved in (renames, which need no space); a
    failure among those moves puts the previous files back. A failure leaves no temporary
    file and no folder that did not exist before (only a power cut during the moves could).
    Other files in ``directory`` are left alone.
    """
    directory = Path(directory)
    token = f"{os.getpid()}.{secrets.token_hex(4)}"
    created = _make_parents(directory.parent)
    try:
        if not directory.exists():
            staging = directory.with_name(f".{directory.name}.{token}.tmp")
            try:
                staging.mkdir()
                _fill(staging, files)
                os.rename(staging, directory)
                return
            except OSError:
                if not directory.is_dir():
                    raise
                # the folder appeared meanwhile: write into it below
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        _replace_in(directory, files, token)
    except BaseException:
        for folder in reversed(created):
            _remove_if_empty(folder)
        raise


def _replace_in(directory: Path, files: Mapping[str, bytes], token: str) -> None:
    """Move ``files`` into the existing ``directory`` together (see :func:`write_together`)."""
    staging = directory / f".mqlsim-new.{token}.tmp"
    previous = directory / f".mqlsim-old.{token}.tmp"
    restored = True
    try:
        staging.mkdir()
        _fill(staging, files)
        previous.mkdir()
        moved_aside: list[str] = []
        moved_in: list[str] = []
        try:
            for name in files:
                if os.path.lexists(directory / name):
                    os.rename(directory / name, previous / name)
                    moved_aside.append(name)
            for name in files:
                os.rename(staging / name, directory / name)
                moved_in.append(name)
        except BaseException:
            restored = _undo(directory, staging, previous, moved_in, moved_aside)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if restored:  # else the previous files are still in it: keep them
            shutil.rmtree(previous, ignore_errors=True)


def _undo(
    directory: Path, staging: Path, previous: Path, moved_in: list[str], moved_aside: list[str]
) -> bool:
    """Put the previous files back after a failed move; whether that worked."""
    try:
        for name in moved_in:
            os.rename(directory / name, staging / name)
        for name in moved_aside:
            os.rename(previous / name, directory / name)
    except OSError:
        return False
    return True


def _fill(folder: Path, files: Mapping[str, bytes]) -> None:
    for name, data in files.items():
        _write_file(folder / name, data)


def _write_file(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, flushed to disk."""
    # Not tempfile.mkstemp: its files are private (0600); "x" keeps the user's umask.
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    created = []
    try:
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
    except BaseException:
        for path in reversed(created):
            _remove_if_empty(path)
        raise
    return created


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty, or gone: leave it
        folder.rmdir()
