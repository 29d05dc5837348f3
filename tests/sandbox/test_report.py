"""``wsb report`` on runs and sweeps made by real short runs of the simulated subject."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from sandbox import store
from sandbox.metrics.tally import group_episodes
from sandbox.report import (
    CSV_COLUMNS,
    REPORT_SCHEMA,
    ReportError,
    build_report,
    episode_values,
    render,
    to_dict,
)
from sandbox.report.view import report_view
from tests.conftest import wsb as shared_wsb

CONDITIONS = ("none", "exit_option", "rest_breaks")
EPISODES = 12


def wsb(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return shared_wsb(*args, cwd=cwd, check=check)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real three-condition sweep (the CLI, the basic launcher)."""
    root = tmp_path_factory.mktemp("report")
    wsb(
        "run",
        "-m",
        f"intervention={','.join(CONDITIONS)}",
        f"episodes={EPISODES}",
        f"hydra.sweep.dir={root}/sweep",
        cwd=root,
    )
    return root / "sweep"


@pytest.fixture(scope="module")
def run(sweep: Path) -> Path:
    """One job of the sweep: a complete run directory."""
    return next(p for p in sorted(sweep.iterdir()) if p.name.startswith("1-"))


def test_run_report_has_every_headline_proxy_with_interval_and_n(run: Path) -> None:
    report = build_report(run)
    metrics = json.loads((run / "metrics.json").read_text())
    assert report.kind == "run" and report.conditions[0].name == "exit_option"
    proxies = {e.proxy: e for e in report.conditions[0].proxies}
    for key in ("refusal_rate", "rest_rate", "exit_rate", "invalid_action_rate"):
        est = proxies[key]
        assert (est.value, est.ci_low, est.ci_high, est.n) == (
            metrics[key]["value"],
            metrics[key]["ci_low"],
            metrics[key]["ci_high"],
            metrics[key]["n"],
        )
    for category in metrics["choice_share"]:
        assert f"choice_share.{category}" in proxies
    assert proxies["self_report"].n == metrics["self_report"]["n"]
    assert proxies["self_report"].ci_low < proxies["self_report"].value
    assert proxies["time_to_exit.median"].n == EPISODES
    text = render(report, "table")
    assert "refusal_rate" in text and "95% interval" in text


def test_sweep_effects_are_against_the_none_control(sweep: Path) -> None:
    report = build_report(sweep)
    assert [c.name for c in report.conditions] == list(CONDITIONS)
    assert report.control == "none"
    assert {e.condition for e in report.effects} == {"exit_option", "rest_breaks"}
    rest = next(
        e for e in report.effects if e.condition == "rest_breaks" and e.proxy == "rest_rate"
    )
    cond, ctrl = report.condition("rest_breaks"), report.condition("none")
    expected = np.mean(cond.per_episode["rest_rate"]) - np.mean(ctrl.per_episode["rest_rate"])
    assert rest.diff == pytest.approx(expected)
    assert rest.ci_low is not None and rest.ci_high is not None
    assert rest.ci_low <= rest.diff <= rest.ci_high
    assert rest.n == rest.n_control == EPISODES
    assert rest.mde is not None and rest.mde > 0
    # Exit is not offered in the control: no difference, and the view says why.
    exit_effect = next(
        e for e in report.effects if e.condition == "exit_option" and e.proxy == "exit_rate"
    )
    assert exit_effect.diff is None and exit_effect.n == EPISODES and exit_effect.n_control == 0
    assert report.mde is not None and 0 < report.mde < 1


def test_per_episode_exit_indicator_agrees_with_metrics(sweep: Path) -> None:
    job = next(p for p in sweep.iterdir() if p.name.startswith("1-"))
    loaded = store.load_run(job)
    episodes, _ = group_episodes(loaded.records)
    values = [episode_values(e, [])["exit_rate"] for e in episodes]
    assert np.mean(values) == pytest.approx(loaded.metrics["exit_rate"]["value"])


def test_effects_are_reproducible_and_seeded(sweep: Path) -> None:
    a, b = build_report(sweep, seed=3), build_report(sweep, seed=3)
    assert [(e.ci_low, e.ci_high) for e in a.effects] == [(e.ci_low, e.ci_high) for e in b.effects]


def test_control_can_be_named_by_condition_or_job_number(sweep: Path) -> None:
    assert build_report(sweep, control="rest_breaks").control == "rest_breaks"
    assert build_report(sweep, control="1").control == "exit_option"
    with pytest.raises(ReportError, match="names no condition"):
        build_report(sweep, control="nope")


def test_json_has_stable_keys(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    wsb("report", str(sweep), "--format", "json", "--out", str(out), cwd=tmp_path)
    data = json.loads(out.read_text())
    assert data["schema"] == REPORT_SCHEMA
    assert set(data) == {
        "schema",
        "kind",
        "path",
        "control",
        "conditions",
        "effects",
        "mde",
        "published",
        "bootstrap",
        "comparisons",
        "notes",
    }
    assert set(data["conditions"][0]) == {
        "name",
        "job",
        "path",
        "status",
        "intervention",
        "overrides",
        "episodes",
        "proxies",
    }
    assert set(data["conditions"][0]["proxies"]["refusal_rate"]) == {
        "value",
        "ci_low",
        "ci_high",
        "n",
        "kind",
        "note",
    }
    assert set(data["effects"][0]) == {
        "condition",
        "control",
        "proxy",
        "diff",
        "ci_low",
        "ci_high",
        "n",
        "n_control",
        "mde",
        "label",
        "method",
        "paired",
        "p",
        "holm",
        "mde_down",
        "mde_up",
    }


def test_csv_is_one_row_per_condition_and_proxy(sweep: Path, tmp_path: Path) -> None:
    text = wsb("report", str(sweep), "--format", "csv", cwd=tmp_path).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    refusal = [r for r in rows if r["proxy"] == "refusal_rate"]
    assert [r["condition"] for r in refusal] == list(CONDITIONS)
    assert all(0 <= float(r["value"]) <= 1 and int(r["n"]) > 0 for r in refusal)
    effects = [r for r in rows if r["proxy"].startswith("effect:")]
    assert {r["condition"] for r in effects} == {"exit_option", "rest_breaks"}


def test_markdown_tables_are_well_formed(sweep: Path) -> None:
    text = render(build_report(sweep), "md")
    assert "| proxy | none | exit\\_option | rest\\_breaks |" in text
    assert "## Effects against the control (none)" in text
    proxies = text.split("## Proxies")[1].split("## Effects")[0]
    rows = [line for line in proxies.splitlines() if line.startswith("|")]
    # Every row has as many cells as the header (escaped pipes are not cell borders).
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in rows}) == 1
    assert any(line.startswith("| refusal\\_rate | ") for line in rows)


def test_html_is_self_contained_with_figures(sweep: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "r.html"
    plots = tmp_path / "plots"
    wsb(
        "report", str(sweep), "--format", "html", "--out", str(out), "--plots", str(plots),
        cwd=tmp_path,
    )  # fmt: skip
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('src="data:image/png;base64,') == 4
    assert "http" not in page.replace("https://", "").split("<body>")[0]  # nothing to fetch
    assert sorted(p.name for p in plots.iterdir()) == [
        "choice_share.png",
        "rates.png",
        "self_report.png",
        "time_to_exit.png",
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in plots.iterdir())


def test_html_without_matplotlib_is_one_line_and_status_2(sweep: Path, tmp_path: Path) -> None:
    probe = (
        "import sys; sys.modules['matplotlib'] = None; from sandbox.cli import main;"
        f"sys.exit(main(['report', {str(sweep)!r}, '--format', 'html']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "pip install 'welfare-sandbox[plots]'" in proc.stderr


def test_report_on_a_non_run_is_one_line_and_status_2(tmp_path: Path) -> None:
    proc = wsb("report", str(tmp_path), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "not a run or a sweep directory" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_folder_of_runs_is_read_one_level_deep(sweep: Path, tmp_path: Path) -> None:
    # Runs gathered by hand in a folder (no multirun.yaml) are reported as its children; a run
    # further down (here a damaged one) is not dug out, as it would be from a folder like /tmp.
    for job in sorted(sweep.iterdir())[:2]:
        if store.is_run_dir(job):
            shutil.copytree(job, tmp_path / job.name)
    buried = tmp_path / "old" / "damaged-run"
    buried.mkdir(parents=True)
    (buried / store.RUN_JSON).write_text("{not json")
    report = build_report(tmp_path)
    assert [c.job for c in report.conditions] == sorted(
        p.name for p in tmp_path.iterdir() if store.is_run_dir(p)
    )
    assert len(report.conditions) == 2


def test_published_blocks_stand_beside_ours_with_their_source(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    # A design block as a design's metrics module writes it (the contents are the design's).
    metrics["pairwise"] = {
        "below_opt_out": {"harmful": {"value": 0.8, "ci_low": 0.6, "ci_high": 0.9, "n": 20}},
        "published": {
            "source": "Anthropic 2025, Claude Opus 4 system card",
            "below_opt_out": {"harmful": 0.872, "positive": 0.079},
            "harmful_share": 0.9,
            "ours": {"harmful_share": "below_opt_out.harmful"},
        },
    }
    store.write_json_atomic(copy / "metrics.json", metrics)
    report = build_report(copy)
    [block] = report.published
    assert block.design == "pairwise"
    assert block.source == "Anthropic 2025, Claude Opus 4 system card"
    rows = {r.key: (r.published, r.ours) for r in block.rows}
    assert rows == {
        "below_opt_out.harmful": (0.872, 0.8),  # the same path in the design block
        "below_opt_out.positive": (0.079, None),
        "harmful_share": (0.9, 0.8),  # the path the block's "ours" map names
    }
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(report_view(report))
    shown = console.export_text()
    assert "Claude Opus 4 system card" in shown and "0.872" in shown
    assert "Claude Opus 4 system card" in render(report, "md")
    assert to_dict(report)["published"][0]["rows"][0]["published"] == 0.872


def test_a_published_design_run_shows_its_published_block(tmp_path: Path) -> None:
    run = tmp_path / "run"
    wsb("run", "experiment=task_preferences", "episodes=2", "display=none",
        f"hydra.run.dir={run}", cwd=tmp_path)  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    designs = [k for k, v in metrics.items() if isinstance(v, dict) and "published" in v]
    assert designs, "the task_preferences experiment writes a design block with published figures"
    report = build_report(run)
    assert [p.design for p in report.published] == designs
    source = report.published[0].source
    assert source and source in render(report, "md").replace("\\", "")
    shown = wsb("report", str(run), cwd=tmp_path).stdout
    assert "published:" in shown
