"""The generated scenario reference covers every key and is up to date."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from mqlsim.cli.docgen import main
from mqlsim.policies import POLICIES
from mqlsim.policies.sections import PolicyConfigBase
from mqlsim.scenario.docgen import render, render_policies
from mqlsim.scenario.models import Scenario

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "scenarios.md"
POLICY_DOCS = ROOT / "docs" / "policies.md"


def leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of every non-table field, list items written ``key[]``.

    A field that may hold several models (a section's kinds) is walked into each of them, except
    inside a policy, where a rule holding a policy of any kind is a key of its own.
    """
    keys = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        annotation: Any = field.annotation
        models = union_models(annotation)
        if issubclass_model(annotation):
            keys += leaf_keys(annotation, dotted + ".")
        elif get_origin(annotation) is list and issubclass_model(get_args(annotation)[0]):
            keys += leaf_keys(get_args(annotation)[0], dotted + "[].")
        elif len(models) > 1 and not issubclass(model, PolicyConfigBase):
            keys += [key for member in models for key in leaf_keys(member, dotted + ".")]
        else:
            keys.append(dotted)
    return keys


def union_models(annotation: Any) -> list[type[BaseModel]]:
    """The models of a union, ``Annotated`` tags stripped."""
    members = [get_args(arg)[0] if get_args(arg) else arg for arg in get_args(annotation)]
    return [member for member in members if issubclass_model(member)]


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
    assert (
        '| `sales.queue_discipline` | one of `"fifo"`, `"score"`, `"grade"`, `"deadline"` '
        '| `"fifo"` |'
    ) in page
    assert "| `scenario.replications` | integer 1 to 10000 | `5` |" in page
    assert '| `population.channels[].name` | string | `"channel"` |' in page
    assert "| `sales.win_probability` | table: grade → number 0 to 1 |" in page
    assert "## `[population]`" in page and "### `[population.icp]`" in page


def test_intro_explains_the_format() -> None:
    page = render()
    for words in ("extends", "--set", "Unknown keys are errors", "_days", "_hours"):
        assert words in page


def test_docs_file_is_up_to_date() -> None:
    assert main(["--check", str(DOCS)]) == 0, "run: python -m mqlsim.cli.docgen > docs/scenarios.md"


def test_policy_docs_file_is_up_to_date() -> None:
    assert main(["--check", str(DOCS), str(POLICY_DOCS)]) == 0, (
        "run: python -m mqlsim.cli.docgen policies > docs/policies.md"
    )


def test_policy_page_has_every_family_with_docs_keys_and_examples() -> None:
    page = render_policies()
    for kind, (config, policy) in POLICIES.items():
        assert f'### `[policy]` with kind = "{kind}"' in page
        module = importlib.import_module(policy.partition(":")[0])
        assert module.__doc__.splitlines()[0] in page
        for name in config.model_fields:
            assert f"| `policy.{name}` |" in page, (kind, name)
        example = ROOT / "scenarios" / f"policy_{kind}.toml"
        assert (f"(../scenarios/policy_{kind}.toml)" in page) == example.is_file()
    assert '`[policy]` with kind = "package.module:Class"' in page
    assert "imports and runs that code" in page
    assert "](#any_of-all_of)" in page and "## `any_of`, `all_of`" in page


def test_policy_page_renders_docstrings_as_markdown() -> None:
    page = render_policies()
    assert ":mod:" not in page and ":class:" not in page
    assert (
        "| `policy.rules` | array of policy tables (any kind), at least 1 items | required |"
        in page
    )
    assert "| `policy.rule` | policy table (any kind) | required |" in page


def test_check_compares_each_file_with_the_page_of_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policies.md").write_text(render_policies(), encoding="utf-8")
    (tmp_path / "scenarios.md").write_text(render_policies(), encoding="utf-8")
    assert main(["--check", str(tmp_path / "policies.md")]) == 0
    assert main(["--check", str(tmp_path / "policies.md"), str(tmp_path / "scenarios.md")]) == 1
    err = capsys.readouterr().err
    assert err.count("out of date") == 1 and "scenarios.md is out of date" in err
    other = tmp_path / "reference.md"
    other.write_text(render_policies(), encoding="utf-8")
    assert main(["policies", "--check", str(other)]) == 0


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
    assert main(["policies"]) == 0
    assert capsys.readouterr().out == render_policies()
