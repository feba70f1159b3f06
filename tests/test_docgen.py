"""The generated scenario reference covers every key and is up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from sim.docgen import main, render
from sim.scenario import Scenario

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scenarios.md"


def leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of every non-table field, list items written ``key[]``."""
    keys = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += leaf_keys(annotation, dotted + ".")
        elif get_origin(annotation) is list and issubclass_model(get_args(annotation)[0]):
            keys += leaf_keys(get_args(annotation)[0], dotted + "[].")
        else:
            keys.append(dotted)
    return keys


def issubclass_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def test_every_leaf_key_is_documented() -> None:
    page = render()
    keys = leaf_keys(Scenario)
    assert len(keys) > 50
    missing = [key for key in keys if f"| `{key}` |" not in page]
    assert missing == []


def test_rows_show_type_default_and_description() -> None:
    page = render()
    assert '| `sales.queue_discipline` | one of `"fifo"`, `"score"`, `"grade"` | `"fifo"` |' in page
    assert "| `scenario.replications` | integer 1 to 10000 | `5` |" in page
    assert '| `population.channels[].name` | string | `"channel"` |' in page
    assert "| `sales.win_probability` | table: grade → number 0 to 1 |" in page
    assert "## `[population]`" in page and "### `[population.icp]`" in page


def test_intro_explains_the_format() -> None:
    page = render()
    for words in ("extends", "--set", "Unknown keys are errors", "_days", "_hours"):
        assert words in page


def test_docs_file_is_up_to_date() -> None:
    assert main(["--check", str(DOCS)]) == 0, "run: python -m sim.docgen > docs/scenarios.md"


@pytest.mark.parametrize("content", [None, "# stale\n"])
def test_check_fails_on_a_stale_or_missing_file(
    tmp_path: Path, content: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scenarios.md"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["--check", str(path)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_main_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out == render()
