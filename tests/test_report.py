"""`mqlsim report` without a browser: self-contained, complete, reproducible, strict on input."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mqlsim.cli import main
from mqlsim.core.metric_catalog import METRIC_BY_NAME
from mqlsim.experiments.runner import run_experiment
from mqlsim.render.html import KEY_METRICS, MODEL_DOC_PLACES, markdown_to_html
from mqlsim.render.output import format_value
from mqlsim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent
LOOSE = str(ROOT / "scenarios" / "loose.toml")
STRICT = str(ROOT / "scenarios" / "strict.toml")
BASELINE = str(ROOT / "scenarios" / "baseline.toml")
SMALL = [
    "--set=population.leads_per_day=5",
    "--set=scenario.horizon_days=120",
    "--set=scenario.warmup_days=30",
    "--replications=2",
    "--workers=1",
]
#: loose.toml's own threshold is 80: the slider starts at the second point.
SWEEP = "policy.threshold=60,80,100"


class Page(HTMLParser):
    """Every tag with its attributes, the text of each settings ``<pre>`` and of each script."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.pre: list[str] = []
        self.scripts: dict[str | None, str] = {}
        self._open: tuple[str, str | None] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if (tag, dict(attrs).get("class")) == ("pre", "settings") or tag == "script":
            self._open = (tag, dict(attrs).get("id"))
            if tag == "pre":
                self.pre.append("")
            else:
                self.scripts[self._open[1]] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[0] == tag:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is None:
            return
        if self._open[0] == "pre":
            self.pre[-1] += data
        else:
            self.scripts[self._open[1]] += data


def _report(out: Path, *args: str) -> str:
    assert main(["report", *args, *SMALL, "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Page, dict]:
    """A report of loose and strict over three thresholds."""
    out = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MQLSIM_CACHE_DIR", str(out / "cache"))
        text = _report(out / "report.html", LOOSE, STRICT, "--sweep", SWEEP)
    page = Page(text)
    return text, page, json.loads(page.scripts["sweep-data"])


def test_self_contained(swept: tuple[str, Page, dict]) -> None:
    text, page, _ = swept
    names = {tag for tag, _ in page.tags}
    assert not names & {"link", "img", "iframe", "object", "embed"}
    assert all("src" not in attrs for tag, attrs in page.tags if tag == "script")
    for tag, attrs in page.tags:
        for name in ("href", "xlink:href", "src"):
            target = attrs.get(name)
            if target is not None and not target.startswith(("#", "data:")):
                assert tag == "a" and target.startswith(("http://", "https://")), (tag, attrs)
    assert "@import" not in text
    assert not re.search(r"url\((?!#)", text)


def test_names_settings_and_assumptions(swept: tuple[str, Page, dict]) -> None:
    text, page, _ = swept
    overrides = [option.removeprefix("--set=") for option in SMALL[:3]]
    for path, name in ((LOOSE, "loose"), (STRICT, "strict")):
        scenario = load_scenario(path, [*overrides, "scenario.replications=2"])
        assert f">{name}<" in text
        assert json.loads(scenario.model_dump_json()) in [json.loads(pre) for pre in page.pre]
    headings = re.findall(
        r"^## (.*)$", MODEL_DOC_PLACES[0].read_text(encoding="utf-8"), re.MULTILINE
    )
    assert len(headings) >= 5
    summaries = re.findall(r"<summary>(.*?)</summary>", text)
    assert [re.sub(r"<[^>]+>|`", "", h) for h in headings] == [
        re.sub(r"<[^>]+>", "", s).replace("&quot;", '"') for s in summaries[-len(headings) :]
    ]
    assert "Common random numbers." in text


def test_grid_json_and_the_numbers_shown(swept: tuple[str, Page, dict]) -> None:
    text, _, data = swept
    assert data["key"] == "policy.threshold"
    assert data["values"] == [60, 80, 100]
    assert data["start"] == 1
    assert [scenario["name"] for scenario in data["scenarios"]] == ["loose", "strict"]
    for column, scenario in enumerate(data["scenarios"]):
        assert len(scenario["points"]) == 3
        for metric in KEY_METRICS:
            shown = scenario["points"][1][metric]
            assert f'id="v-{column}-{metric}">{shown["text"]}<' in text
    # one ring per point on each of the two panels of each scenario's trade-off figure
    assert len(re.findall(r'<circle data-point="\d"', text)) == 3 * 2 * 2
    assert len(re.findall(r'<circle data-point="1" class="current"', text)) == 2 * 2


def test_grid_numbers_are_the_runs_of_each_point(swept: tuple[str, Page, dict]) -> None:
    """Point 2 of the strict column is strict.toml run at threshold 100 (common seed)."""
    _, _, data = swept
    overrides = [option.removeprefix("--set=") for option in SMALL[:3]]
    point = ["scenario.replications=2", "policy.threshold=100"]
    scenario = load_scenario(STRICT, [*overrides, *point])
    summaries = run_experiment(scenario, workers=1).summaries
    for metric in KEY_METRICS:
        shown = data["scenarios"][1]["points"][2][metric]
        mean = summaries[metric].mean
        assert shown["text"] == format_value(mean, METRIC_BY_NAME[metric].unit)
        assert shown["mean"] == pytest.approx(mean, nan_ok=True) or shown["mean"] is None


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    first = _report(tmp_path / "a.html", BASELINE)
    second = _report(tmp_path / "b.html", BASELINE, "--no-cache")
    assert first == second
    assert "sweep-data" not in first and "<script" not in first
    for name in ("funnel", "missed opportunities", "rep hours", "over time", "policy vs truth"):
        assert f"<h3>{name.capitalize()}</h3>" in first
    ids = re.findall(r'\bid="([^"]+)"', first)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.toml"], "missing.toml"),
        ([BASELINE, "--sweep", "policy.threshold"], "--sweep 'policy.threshold': expected"),
        ([BASELINE, "--sweep", "policy.threshold=1:5:0"], "--sweep 'policy.threshold=1:5:0'"),
        ([BASELINE, "--sweep", "policy.nope=1,2"], "--sweep 'policy.nope=1,2'"),
        ([BASELINE, "--set", "sales.reps=-1"], "sales.reps"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", *args, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("mqlsim: error: ")
    assert message in error
    assert not out.exists()


def test_out_must_not_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", BASELINE, "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_markdown_is_rendered_by_markdown_it() -> None:
    """docs/model.md goes through markdown-it-py (issue 17, point 12): CommonMark with tables,
    raw HTML escaped, relative links reduced to their text, headings one level down."""
    text = (
        "Intro with `a<b` and **bold `x`** and *it*.\n"
        "continued [doc](other.md) and [site](https://example.org).\n"
        "<script>alert(1)</script>\n"
        "\n"
        "- one\n"
        "  more of one\n"
        "  - nested\n"
        "- two\n"
        "\n"
        "```\n"
        "x < y\n"
        "```\n"
        "\n"
        "| a | b |\n"
        "|---|---|\n"
        "| 1 | `2` |\n"
        "\n"
        "### Head\n"
    )
    html = markdown_to_html(text)
    assert "<code>a&lt;b</code> and <strong>bold <code>x</code></strong> and <em>it</em>" in html
    assert 'continued doc and <a href="https://example.org">site</a>' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert re.search(r"<li>one\nmore of one\n<ul>\n<li>nested</li>", html)
    assert "<pre><code>x &lt; y\n</code></pre>" in html
    assert "<th>a</th>" in html and "<td><code>2</code></td>" in html
    assert "<h4>Head</h4>" in html


# --- issue 17, points 8 and 12: the comparison report compares ---------------------------------


def test_each_column_after_the_first_shows_b_minus_a_as_compare_does(tmp_path: Path) -> None:
    import html as html_module

    import mqlsim
    from mqlsim.render.comparison import change_cells

    strict_own_seed = [*SMALL, "--set=scenario.seed=99"]  # B's own seed: the report pairs on A's
    assert main(["report", LOOSE, STRICT, *strict_own_seed, "--out", str(tmp_path / "r.html")]) == 0
    text = html_module.unescape((tmp_path / "r.html").read_text(encoding="utf-8"))
    overrides = [option.removeprefix("--set=") for option in strict_own_seed if "--set" in option]
    comparison = mqlsim.compare(LOOSE, STRICT, overrides=overrides, replications=2, workers=1)
    for metric in KEY_METRICS:
        difference, interval = change_cells(comparison.metrics[metric])
        expected = f'id="d-1-{metric}">B − A {difference} (95 % CI {interval})<'
        assert expected in text, metric
        mark = comparison.metrics[metric].mark
        assert re.search(rf'id="m-1-{metric}">{re.escape(mark)}<', text), metric
    assert 'id="d-0-' not in text  # the first column is A itself
    assert "B − A against loose" in text


def test_the_same_figure_of_two_scenarios_shares_its_axes() -> None:
    from mqlsim.render.figures import RunData, figures, share_axes

    runs = [
        RunData.from_experiment(
            run_experiment(load_scenario(path, [*SMALL_SETTINGS, "scenario.replications=2"]))
        )
        for path in (LOOSE, STRICT)
    ]
    drawn = [figures(run=run) for run in runs]
    before = [ax.get_xlim() for ax in drawn[0]["missed_opportunities"].axes]
    for name in drawn[0]:
        share_axes([figure[name] for figure in drawn])
    for name in ("funnel", "missed_opportunities", "rep_hours", "over_time"):
        left, right = (figure[name].axes for figure in drawn)
        for a, b in zip(left, right, strict=True):
            assert a.get_xlim() == b.get_xlim() and a.get_ylim() == b.get_ylim(), name
    assert drawn[0]["missed_opportunities"].axes[0].get_xlim()[1] >= before[0][1]


SMALL_SETTINGS = [option.removeprefix("--set=") for option in SMALL if option.startswith("--set")]
