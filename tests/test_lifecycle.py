"""Lifecycle exports (one row per lead, a date per funnel stage): HubSpot's names by default,
mapped names, yes/no flags, repeated leads, and problems named by their line."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mqlsim.core.errors import InputError
from mqlsim.experiments.lifecycle import LifecycleColumns, read_lifecycle
from mqlsim.experiments.tabular import NO_TIME

HUBSPOT = (
    "Record ID,Create Date,Original Source,Became a Marketing Qualified Lead Date,"
    "Became a Sales Qualified Lead Date,Became an Opportunity Date,Became a Customer Date,"
    "Recent Deal Amount"
)


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 10**9


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_hubspot_export_reads_with_no_mapping(tmp_path) -> None:
    path = write(
        tmp_path / "contacts.csv",
        [
            HUBSPOT,
            "101,2024-01-03 09:15,Organic Search,2024-01-10,,,,",
            "102,2024-01-04,Paid Search,2024-01-05 10:00,2024-01-08,2024-01-09,2024-02-01,1200.50",
            "103,2024-01-05,,,,,,",
        ],
    )
    lifecycle = read_lifecycle(path)
    assert lifecycle.lead_ids == ["101", "102", "103"]
    assert lifecycle.stages == ("mql", "sql", "opportunity", "customer")  # no SAL column
    assert lifecycle.source == ["Organic Search", "Paid Search", ""]
    assert lifecycle.created_ns.tolist() == [
        ns("2024-01-03T09:15"),
        ns("2024-01-04"),
        ns("2024-01-05"),
    ]
    assert lifecycle.reached["mql"].tolist() == [True, True, False]
    assert lifecycle.reached["customer"].tolist() == [False, True, False]
    assert lifecycle.at_ns["customer"].tolist() == [NO_TIME, ns("2024-02-01"), NO_TIME]
    assert np.isnan(lifecycle.deal_value[[0, 2]]).all() and lifecycle.deal_value[1] == 1200.5
    assert [file.count for file in lifecycle.problems] == [0]


def test_mapped_columns_and_flags_without_dates(tmp_path) -> None:
    path = write(
        tmp_path / "leads.csv",
        ["id,won,worked,value", "a,1,Yes,", "b,0,no,10", "c,TRUE,, 7.5 ", "d,,FALSE,"],
    )
    columns = LifecycleColumns(lead_id="id", customer="won", mql="worked", deal_value="value")
    lifecycle = read_lifecycle(path, columns)
    assert lifecycle.reached["customer"].tolist() == [True, False, True, False]
    assert lifecycle.reached["mql"].tolist() == [True, False, False, False]
    assert (lifecycle.at_ns["customer"] == NO_TIME).all()  # flags carry no date
    assert lifecycle.deal_value[1:3].tolist() == [10.0, 7.5]


def test_problems_are_named_by_their_line_and_cells_count_as_empty(tmp_path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(
        (
            HUBSPOT + "\n"
            '101,2024-01-03,"Organic\nSearch",,,,2024-02-30,\n'  # lines 2-3: 30 February
            "102,2024-01-04,Paid,,,,maybe,1.234,56\n"  # line 4: 9 fields
            "103,2024-01-04,Paid,,,,1800-01-01,€12\n"  # line 5: a year and a currency sign
            ",2024-01-04,Paid,,,,,\n"  # line 6: no id
            "101,2023-12-30,Email,2024-01-20,,,,\n"  # line 7: 101 again
        ).encode()
    )
    lifecycle = read_lifecycle(path)
    assert [line for file in lifecycle.problems for line in file.lines()] == [
        f"{path}:2: Became a Customer Date '2024-02-30' is not an ISO-8601 date and time (e.g."
        " 2024-03-01T14:30:00Z); or yes/no; treated as not reached",
        f"{path}:4: expected 8 fields, found 9",
        f"{path}:5: Recent Deal Amount '€12' is not a finite decimal number; treated as unknown",
        f"{path}:5: Became a Customer Date '1800-01-01': year 1800 is outside 1970 to 2199 (a"
        " typo or an unset date?); or yes/no; treated as not reached",
        f"{path}:6: Record ID is empty; row skipped",
        f"{path}:7: lead '101' is also on line 2; rows merged",
    ]
    assert lifecycle.lead_ids == ["101", "103"]
    # Lead 101's rows merged: the earliest created date, the last source given.
    assert lifecycle.created_ns[0] == ns("2023-12-30")
    assert lifecycle.source[0] == "Email"
    assert lifecycle.reached["mql"].tolist() == [True, False]
    assert not lifecycle.reached["customer"].any()


def test_an_activity_log_with_lifecycle_columns_merges_its_rows(tmp_path) -> None:
    path = write(
        tmp_path / "log.csv",
        [
            "lead_id,timestamp,activity,Became a Customer Date",
            "a,2024-01-01,web_visit,",
            "a,2024-01-02,demo_request,2024-03-01",
            "a,2024-01-03,web_visit,2024-02-15",
        ],
    )
    lifecycle = read_lifecycle(path, lead_id="lead_id", one_row_per_lead=False)
    assert [file.count for file in lifecycle.problems] == [0]
    assert lifecycle.at_ns["customer"].tolist() == [ns("2024-02-15")]  # the earliest date


@pytest.mark.parametrize(
    ("lines", "kwargs", "message"),
    [
        (["id,Create Date", "1,2024-01-01"], {}, "missing column 'Record ID' (lead id)"),
        (
            [HUBSPOT, "1,2024-01-01,,,,,,"],
            {"required": ["sal"]},
            "missing column 'Became a Sales Accepted Lead Date' (the sal date)",
        ),
        ([HUBSPOT, ",2024-01-01,,,,,,"], {}, "no lead with an id"),
        ([], {}, "the file is empty"),
    ],
)
def test_unusable_exports_are_errors(tmp_path, lines, kwargs, message) -> None:
    path = write(tmp_path / "contacts.csv", lines) if lines else tmp_path / "contacts.csv"
    if not lines:
        path.write_text("")
    with pytest.raises(InputError, match=re.escape(message)):
        read_lifecycle(path, **kwargs)
