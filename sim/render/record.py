"""A recorded replication as the two CSV files of a CRM export (`mqlsim run --record DIR`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from mqlsim.core.atomic import write_atomic
from mqlsim.core.errors import InputError
from mqlsim.experiments.record import Recording

EVENTS_FILE = "events.csv"
LIFECYCLE_FILE = "lifecycle.csv"


def table_csv(columns: dict[str, np.ndarray]) -> str:
    """Columns of strings (header -> values) as CSV text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(values.tolist() for values in columns.values()), strict=True))
    return buffer.getvalue()


def write_recording(recording: Recording, folder: Path) -> None:
    """``events.csv`` and ``lifecycle.csv`` in ``folder`` (created), each written atomically."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / EVENTS_FILE, table_csv(recording.events).encode())
        write_atomic(folder / LIFECYCLE_FILE, table_csv(recording.lifecycle).encode())
    except OSError as error:
        raise InputError(f"--record {folder}: cannot write: {error.strerror or error}") from None
