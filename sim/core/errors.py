"""Bad input: one exception type the command line turns into clear lines and exit code 2."""

import difflib
from collections.abc import Sequence


class InputError(Exception):
    """A user-facing input problem: each line names the file, the field path and what was expected.

    Raised for scenario files, command-line flags and event logs. The command line prints each
    line to stderr, writes nothing, and exits with code 2 — never a traceback.
    """

    def __init__(self, lines: list[str] | str) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))


class MqlsimWarning(UserWarning):
    """Something the user should know that does not stop the work (e.g. an unwritable cache).

    Raised with :func:`warnings.warn`; the command line prints it as one ``mqlsim: warning:``
    line, and a notebook shows it as Python shows warnings.
    """


#: How many characters of a user's text an error line repeats.
SHOWN_CHARACTERS = 60


def shown(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` quoted for an error line, cut after ``limit`` characters with its length said,
    so a 300,000-character value never fills a terminal or a CI log."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def cut(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` as :func:`shown` cuts it, unquoted (a key path in an error line)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; the message says what was kept, e.g. ``12 of 20 replications are
    cached; run the same command to resume``.

    A :class:`KeyboardInterrupt`, so code that handles Ctrl-C still does. The command line
    prints it as one ``mqlsim: interrupted:`` line and exits with code 130.
    """


def did_you_mean(value: str, allowed: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` with the closest of ``allowed``, or ``""`` when none is close."""
    close = difflib.get_close_matches(value, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
