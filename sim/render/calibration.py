"""A calibration as the fit table and the fitted scenario file (`mqlsim calibrate`).

The fitted file ``extends`` the base scenario and sets only what calibration changed and what
``--set`` gave: each fitted key with a comment naming its parameter, the target that pinned it
and the value the check run achieved. TOML arrays replace whole when a file extends another, so
a parameter on persona keys writes the whole ``[[population.personas]]`` array (its other
values as the base had them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mqlsim.core.metric_catalog import METRIC_BY_NAME, format_value
from mqlsim.experiments.calibrate import STOP_Z, Calibration, FittedParameter, TargetFit
from mqlsim.experiments.export_targets import MATURITY, ExportTargets
from mqlsim.render.tables import Document, Style, Table
from mqlsim.scenario.models import Scenario
from mqlsim.scenario.targets import PERIOD_TOTALS, Target
from mqlsim.scenario.toml_text import toml_key, toml_value

FIT_COLUMNS: tuple[str, ...] = ("target", "wanted", "band", "simulated", "95 % CI", "within")
PARAMETER_COLUMNS: tuple[str, ...] = ("parameter", "multiplier", "pinned by", "scenario keys")
_STOPS = {
    "within": f"every target within {STOP_Z:g} of its half-band",
    "converged": "the optimiser converged",
    "budget": "the budget of replications was spent",
}

Path = tuple[str | int, ...]


def _unit_symbol(metric: str) -> str:
    return " %" if METRIC_BY_NAME[metric].unit == "share" else ""


def simulated_text(fit: TargetFit) -> tuple[str, str]:
    """The check run's mean and 95 % interval of a target, in the metric's display unit."""
    unit, summary = METRIC_BY_NAME[fit.target.metric].unit, fit.simulated
    symbol = _unit_symbol(fit.target.metric)
    mean = format_value(summary.mean, unit) + symbol
    if math.isnan(summary.ci_low):
        return mean, "n/a"
    return mean, f"{format_value(summary.ci_low, unit)} – {format_value(summary.ci_high, unit)}"


def _target_label(calibration: Calibration, target: Target) -> str:
    """``leads per 30 days``, ``email: mql_to_won_rate``."""
    label = target.metric
    if target.metric in PERIOD_TOTALS:
        label = f"{label} per {calibration.targets.period_days:g} days"
    return label if target.channel is None else f"{target.channel}: {label}"


def multiplier_text(fitted: FittedParameter) -> str:
    """``×0.750``, or ``odds ×3.74`` for a parameter on the odds of probabilities."""
    shown = f"×{fitted.multiplier:.3g}"
    return f"odds {shown}" if fitted.parameter.transform == "odds" else shown


def fit_table(calibration: Calibration) -> Table:
    """One row per target: wanted, band, the check run's mean and 95 % CI, within or not."""
    rows, styles = [], []
    for fit in calibration.fits:
        mean, interval = simulated_text(fit)
        rows.append(
            (
                _target_label(calibration, fit.target),
                fit.target.text(),
                fit.target.band_text(),
                mean,
                interval,
                "yes" if fit.within else "no",
            )
        )
        mark: Style = "good" if fit.within else "bad"
        styles.append(("", "", "", "", "", mark))
    return Table.of(FIT_COLUMNS, rows, left=("target",), styles=tuple(styles))


def parameter_table(calibration: Calibration) -> Table:
    """One row per fitted parameter: its multiplier, the targets that pinned it, its keys."""
    rows = [
        (
            fitted.parameter.name,
            multiplier_text(fitted) + (" (at bound)" if fitted.at_bound else ""),
            ", ".join(fitted.targets) or "(jointly)",
            ", ".join(fitted.parameter.keys),
        )
        for fitted in calibration.parameters
    ]
    return Table.of(PARAMETER_COLUMNS, rows, left=("parameter", "pinned by", "scenario keys"))


def render_calibration(calibration: Calibration, out: str | None = None) -> Document:
    """The fit table, the fitted parameters, what the search cost and what to look at."""
    meta = calibration.check.scenario.scenario
    fit_seed = calibration.fitted.scenario.seed
    outside = [fit.target.key for fit in calibration.fits if not fit.within]
    written = f" → {out}" if out is not None else ""
    blocks: list[str | Table] = [
        f"{calibration.base.scenario.name}: calibrated to {calibration.targets.label}{written}",
        *(f"  {line}" for line in (export_lines(calibration.export) if calibration.export else [])),
        f"  Check run: {meta.replications} replications on seed {meta.seed}, a seed the fit"
        f" did not use (it used {fit_seed}).",
        fit_table(calibration),
        "",
        "Fitted parameters (multipliers of the base scenario's values):",
        parameter_table(calibration),
        "",
        f"Cost: {calibration.replications:,} replications simulated"
        f" ({calibration.evaluations} scenarios evaluated) in {calibration.seconds:.1f} s;"
        f" stopped: {_STOPS[calibration.stop]}.",
    ]
    styles: dict[int, Style] = {}
    for fitted in calibration.parameters:
        if fitted.at_bound:
            styles[len(blocks)] = "bad"
            blocks.append(
                f"{fitted.parameter.name} ended at its bound ({multiplier_text(fitted)}): the"
                " model cannot move further that way with the base scenario's other settings."
            )
    if calibration.export is not None and calibration.export.problems:
        styles[len(blocks)] = "bad"
        blocks.append(
            "Problems in the export (their cells read as empty; --strict refuses them):\n"
            + "\n".join(calibration.export.problems)
        )
    if outside:
        styles[len(blocks)] = "bad"
        blocks.append(f"Outside their bands: {', '.join(outside)}.")
    return Document(tuple(blocks), styles)


def export_lines(export: ExportTargets) -> list[str]:
    """How targets were computed from an export: the cohorts kept and why."""
    day = export.day
    stage = "created" if export.first_stage == "created" else f"reached {export.first_stage}"
    return [
        f"Cohorts: leads that {stage} from {day(export.since_ns)} to before"
        f" {day(export.until_ns)}: {export.leads_kept:,} of {export.leads_read:,} leads.",
        f"The window opens when the export first records its deepest stage and closes"
        f" {export.maturity_days:.0f} days before its end: the time {MATURITY:.0%} of the"
        " observed conversions took (younger leads have not had time to convert).",
    ]


def targets_toml(export: ExportTargets) -> str:
    """The targets computed from an export as a targets file (docs/calibration.md), to read,
    edit and give back with ``--targets``."""
    targets = export.targets
    lines = [
        f"# Targets computed by `mqlsim calibrate --from-export` from {targets.label}.",
        *(f"# {line}" for line in export_lines(export)),
        "# Rates carry the leads they were measured on (n); medians their 95 % interval.",
        "[targets]",
        f"period_days = {toml_value(targets.period_days)}",
    ]
    for channel in (None, *targets.channels):
        if channel is not None:
            lines += ["", f"[targets.channel.{toml_key(channel)}]"]
        for target in targets.of_channel(channel):
            lines.append(f"{target.metric} = {_spec_text(target)}")
    return "\n".join(lines) + "\n"


def _spec_text(target: Target) -> str:
    if target.form == "interval":
        return f"{{ low = {target.low!r}, high = {target.high!r} }}"
    if target.form == "measured":
        return f"{{ value = {target.value!r}, n = {target.n} }}"
    return repr(target.value)


def fitted_toml(
    calibration: Calibration,
    extends: str,
    given: Sequence[tuple[str, ...]],
    header: Sequence[str] = (),
) -> str:
    """The fitted scenario as a file that ``extends`` the base: the fitted keys under a comment
    naming their parameter, target and achieved value, and the ``given`` key paths (``--set``,
    ``--seed``...) with their values; ``header`` lines open the file as comments."""
    data = calibration.fitted.model_dump()
    #: per section: (comment, key paths) of each parameter and of what was given
    plain: dict[str, list[tuple[str, list[Path]]]] = {name: [] for name in Scenario.model_fields}
    #: whole arrays of tables to write: path -> comments of the parameters inside them
    arrays: dict[Path, list[str]] = {}
    short: dict[Path, str] = {}  # fitted leaves inside arrays -> inline comment
    written: list[Path] = []
    for fitted in calibration.parameters:
        leaves = []
        for path in fitted.parameter.paths(data):
            index = next((i for i, part in enumerate(path) if isinstance(part, int)), None)
            if index is None:
                leaves.append(path)
                continue
            comments = arrays.setdefault(path[:index], [])
            if _parameter_comment(calibration, fitted) not in comments:
                comments.append(_parameter_comment(calibration, fitted))
            short[path] = f"{fitted.parameter.name} {multiplier_text(fitted)}"
        if leaves:
            plain[str(leaves[0][0])].append((_parameter_comment(calibration, fitted), leaves))
        written += leaves
    written += list(arrays)
    for path in given:
        if not any(_inside(path, known) for known in written):
            plain[path[0]].append(("", [path]))
            written.append(path)

    lines = [*(f"# {line}".rstrip() for line in header), f"extends = {toml_value(extends)}"]
    for section, groups in plain.items():
        if groups:
            lines += ["", f"[{section}]"]
        for comment, paths in groups:
            if comment:
                lines.append(f"# {comment}")
            for path in sorted(paths, key=lambda path: _order(data, path)):
                if len(path) == 1:  # a whole section was given
                    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in data[section].items()]
                    continue
                key = ".".join(toml_key(str(part)) for part in path[1:])
                line = f"{key} = {toml_value(_at(data, path))}"
                lines.append(line if comment else f"{line}  # given, not fitted")
        for array, comments in arrays.items():
            if array[0] != section:
                continue
            lines += ["", *(f"# {comment}" for comment in comments)]
            for index, item in enumerate(_at(data, array)):
                lines.append(f"[[{'.'.join(toml_key(str(part)) for part in array)}]]")
                for name, value in item.items():
                    line = f"{toml_key(name)} = {toml_value(value)}"
                    note = short.get((*array, index, name))
                    lines.append(f"{line}  # {note}" if note else line)
                lines.append("")
            lines.pop()
    return "\n".join(lines) + "\n"


def _parameter_comment(calibration: Calibration, fitted: FittedParameter) -> str:
    """``engagement ×0.70 (every organic activity rate...): lead_to_mql_rate 18.0 % wanted,
    18.0 % achieved``."""
    achieved = {fit.target.key: fit for fit in calibration.fits}
    parts = []
    for key in fitted.targets:
        fit = achieved[key]
        label = _target_label(calibration, fit.target)
        parts.append(f"{label} {fit.target.text()} wanted, {simulated_text(fit)[0]} achieved")
    pinned = "; ".join(parts) if parts else "fitted jointly with the others"
    parameter = fitted.parameter
    return f"{parameter.name} {multiplier_text(fitted)} ({parameter.description}): {pinned}"


def _inside(path: Sequence[str | int], container: Path) -> bool:
    """Whether ``path`` is ``container`` or lies inside it."""
    return tuple(path[: len(container)]) == container


def _at(data: dict[str, Any], path: Sequence[str | int]) -> Any:
    node: Any = data
    for part in path:
        node = node[part]
    return node


def _order(data: dict[str, Any], path: Path) -> tuple[int, ...]:
    """A path's position in the scenario's own key order (so the file reads like the base)."""
    positions: list[int] = []
    node: Any = data
    for part in path:
        positions.append(list(node).index(part) if isinstance(node, dict) else int(part))
        node = node[part]
    return tuple(positions)
