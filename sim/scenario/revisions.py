"""Scenario files as committed in a git revision: ``REV:path``, read through ``git show``.

``main:scenarios/loose.toml`` is ``scenarios/loose.toml`` as revision ``main`` has it; ``path``
follows git's rule (relative to the repository's top, or to the current folder when it starts
with ``./`` or ``../``). The file and every file its ``extends`` chain names are written from the
same revision into a temporary folder, at the same relative places, so relative ``extends``
resolve as they do in a checkout.

How an argument is read (:func:`split_revision`): a file that exists wins, so a plain path
containing ``:`` keeps working; a Windows drive path (``C:\\x.toml``, ``C:/x.toml``) is a path;
otherwise ``REV:path`` with a non-empty REV not starting with ``-`` is a revision and a path.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mqlsim.core.errors import InputError
from mqlsim.policies.plugins import PluginAccess
from mqlsim.scenario.loading import Overrides, load_scenario
from mqlsim.scenario.models import Scenario

_REVISION_PATH = re.compile(r"^(?P<rev>[^:\s-][^:]*):(?P<path>[^:]+)$")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def split_revision(argument: str) -> tuple[str, str] | None:
    """``(REV, path)`` when ``argument`` names a file in a git revision, else ``None``."""
    if Path(argument).exists() or _DRIVE.match(argument):
        return None
    found = _REVISION_PATH.match(argument)
    return (found["rev"], found["path"]) if found else None


def load_revision_scenario(
    revision: str, path: str, overrides: Overrides, *, plugins: PluginAccess = "entry_points"
) -> Scenario:
    """Load ``path`` as committed in ``revision``, with ``--set`` overrides (``plugins`` as in
    :func:`mqlsim.scenario.loading.load_scenario`).

    Raises :class:`InputError` (one line) when git is missing, the current folder is not in a
    git repository, the revision is unknown or a file of the ``extends`` chain is not in it;
    the loader's own errors name files as ``REV:path``.
    """
    with _checkout(revision, path) as (root, in_repository):
        try:
            return load_scenario(root / in_repository, overrides, plugins=plugins)
        except InputError as error:
            folder = f"{root}{os.sep}"
            raise InputError(
                [line.replace(folder, f"{revision}:") for line in error.lines]
            ) from None


@contextmanager
def _checkout(revision: str, path: str) -> Iterator[tuple[Path, str]]:
    """Write ``path`` and its ``extends`` chain from ``revision`` into a temporary folder.

    Yields the folder and ``path`` relative to the repository's top (and to the folder).
    """
    label = f"{revision}:{path}"
    top = _git(label, "rev-parse", "--show-toplevel").strip()
    prefix = _git(label, "rev-parse", "--show-prefix").strip()
    if not _git(
        label, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", allow_failure=True
    ):
        raise InputError(f"{label}: unknown revision {revision!r} in the git repository at {top}")
    in_repository = posixpath.normpath(
        posixpath.join(prefix, path) if path.startswith(("./", "../")) else path
    )
    with tempfile.TemporaryDirectory(prefix="mqlsim-rev-") as folder:
        root = Path(folder)
        wanted, named_by = in_repository, ""
        written: set[str] = set()
        while wanted not in written:
            if wanted == ".." or wanted.startswith("../") or posixpath.isabs(wanted):
                raise InputError(f"{label}: {wanted}{named_by} is outside the repository")
            extends = _write_file(revision, wanted, root, label, named_by)
            written.add(wanted)
            if extends is None:
                break
            named_by = f" (extends in {wanted})"
            wanted = posixpath.normpath(posixpath.join(posixpath.dirname(wanted), extends))
        yield root, in_repository


def _write_file(revision: str, path: str, root: Path, label: str, named_by: str) -> str | None:
    """Write ``revision:path`` under ``root``; return the ``extends`` it names, if any."""
    if _git(label, "cat-file", "-t", f"{revision}:{path}", allow_failure=True) != "blob\n":
        raise InputError(f"{label}: {path}{named_by} is not a file in revision {revision!r}")
    content = subprocess.run(
        ["git", "show", f"{revision}:{path}"], capture_output=True, check=True
    ).stdout
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    try:
        extends = tomllib.loads(content.decode("utf-8-sig")).get("extends")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None  # the loader reports it, naming the file
    return extends if isinstance(extends, str) else None


def _git(label: str, *arguments: str, allow_failure: bool = False) -> str:
    """Git's output; on failure ``""`` if allowed, else :class:`InputError` naming ``label``."""
    try:
        done = subprocess.run(["git", *arguments], capture_output=True, text=True)
    except OSError as error:
        raise InputError(f"{label}: cannot run git ({error.strerror or error})") from None
    if done.returncode == 0:
        return done.stdout
    if allow_failure:
        return ""
    reason = done.stderr.strip().splitlines()[-1:] or [f"git exited with {done.returncode}"]
    raise InputError(f"{label}: {reason[0].removeprefix('fatal: ')} (folder {os.getcwd()})")
