"""Bad input to ``wsb``: one line that says what was expected, what came and the fix; status 2.

Every case runs the command as a user does (``wsb`` from tests/conftest.py: in this process, or
a child where the case needs one), and checks that the refused command wrote nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from sandbox import store
from sandbox.paths import config_dir
from tests.conftest import wsb


def assert_one_line_status_2(proc: subprocess.CompletedProcess, *expected: str) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for text in expected:
        assert text in err, err
    return err


# --- unknown keys, with or without + ------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("episods=5", "Did you mean episodes?"),
        ("+episods=5", "Did you mean episodes?"),  # once accepted: 20 episodes, exit 0
        ("++episods=5", "Did you mean episodes?"),
        ("+agent.nosie=2", "Did you mean agent.noise?"),
        ("+agent.model=x", "agent=simulated has no field agent.model"),
        ("zzzqqq=1", "wsb run --cfg job prints every key"),  # nothing close: where keys are
        ("hydra.run.dri=x", "Did you mean hydra.run.dir?"),
    ],
)
def test_an_unknown_key_is_refused_with_or_without_plus(tmp_path, override, expected):
    proc = wsb("run", override, "episodes=1", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    err = assert_one_line_status_2(proc, "unknown key", expected)
    assert "To add a new key" not in err and "use +" not in err
    assert not (tmp_path / "r").exists()


def test_plus_still_adds_keys_to_dict_valued_fields(tmp_path):
    # env.kwargs and agent.conversation.exit_rates are dicts: a + adds a key there.
    run = tmp_path / "r"
    proc = wsb(
        "run",
        "+env.kwargs.break_every=4",
        "++agent.conversation.exit_rates.hostile_or_belittling=0.3",
        "episodes=1",
        "display=none",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert cfg["env"]["kwargs"]["break_every"] == 4
    assert cfg["agent"]["conversation"]["exit_rates"]["hostile_or_belittling"] == 0.3


def test_a_missing_dict_key_says_how_to_add_it_and_an_existing_key_how_to_set_it(tmp_path):
    proc = wsb("run", "agent.conversation.exit_rates.x=0.3", cwd=tmp_path)
    assert_one_line_status_2(proc, "+agent.conversation.exit_rates.x=VALUE")
    proc = wsb("run", "+episodes=5", cwd=tmp_path)
    assert_one_line_status_2(proc, "episodes exists already", "episodes=VALUE")


# --- shapes of arguments Hydra does not take -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # forgot -m: Hydra said "Ambiguous value" in 5 lines, status 1
        (["intervention=none,exit_option"], ["add -m", "wsb run -m intervention=none,exit_option"]),
        (["intervention", "exit_option"], ["'intervention'", "write intervention=exit_option"]),
        (["intervention"], ["write intervention=OPTION", "exit_option", "rest_breaks"]),
        (["--episodes", "5"], ["'--episodes 5'", "write episodes=5"]),
        (["--episodes=5"], ["write episodes=5"]),
        (["agent=openai_compat"], ["agent.model has no value", "add agent.model=NAME"]),
        (["hydra/launcher=jobilb"], ["choose one of", "Did you mean hydra/launcher=joblib?"]),
        (["hydra.launcher.n_jobs=2"], ["choose the launcher first", "hydra/launcher=joblib"]),
        (["+intervention=exit_option"], ["intervention is chosen already", "intervention=OPTION"]),
    ],
)
def test_each_hydra_mistake_gets_one_line_that_names_the_fix(tmp_path, args, expected):
    proc = wsb("run", *args, f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    assert_one_line_status_2(proc, *expected)
    assert not (tmp_path / "r").exists()


def test_a_run_directory_known_only_inside_a_sweep_job_is_refused(tmp_path):
    # Hydra itself fails here with a 90-line traceback (hydra.job.num exists only in a sweep).
    proc = wsb("run", f"hydra.run.dir={tmp_path}/r${{hydra.job.num}}", cwd=tmp_path)
    assert_one_line_status_2(proc, "hydra.run.dir cannot be resolved", "hydra.run.dir=runs/NAME")
    assert list(tmp_path.iterdir()) == []


def test_an_unquoted_space_in_a_path_says_to_quote_it(tmp_path):
    proc = wsb("run", f"hydra.run.dir={tmp_path}/my", "runs", cwd=tmp_path)
    assert_one_line_status_2(proc, "'runs'", f'write "hydra.run.dir={tmp_path}/my runs"')
    assert list(tmp_path.iterdir()) == []


# --- output places that cannot be written ----------------------------------------------------


@pytest.mark.parametrize("multirun", [False, True])
def test_an_output_directory_below_a_file_is_refused_before_anything_is_written(tmp_path, multirun):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me\n")
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    args = ["-m", "seed=1,2"] if multirun else []
    proc = wsb("run", *args, "episodes=1", f"{key}={blocker}/out", cwd=tmp_path)
    assert_one_line_status_2(proc, f"{blocker} is a file", f"{key}=PATH")
    assert blocker.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_run_directory_is_refused_in_one_line(tmp_path):
    run = tmp_path / "ro"
    run.mkdir()
    run.chmod(0o555)
    try:
        proc = wsb("run", "episodes=1", f"hydra.run.dir={run}", cwd=tmp_path)
        assert_one_line_status_2(proc, "read-only", "hydra.run.dir=PATH")
        assert list(run.iterdir()) == []
    finally:
        run.chmod(0o755)


def test_the_read_only_check_names_the_folder_and_the_override(tmp_path, monkeypatch):
    # The same check as above, where root's writes would succeed: os.access says read-only.
    from sandbox.errors import ConfigError
    from sandbox.overrides import check_writable

    (tmp_path / "runs").mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path / "runs")
    with pytest.raises(ConfigError, match=r"runs is read-only .* with hydra.run.dir=PATH$"):
        check_writable(tmp_path / "runs" / "a" / "b", "the run directory", "hydra.run.dir=PATH")
    check_writable(tmp_path / "other", "the run directory", "hydra.run.dir=PATH")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A finished two-condition sweep of one episode per job."""
    root = tmp_path_factory.mktemp("sweep")
    proc = wsb(
        "run",
        "-m",
        "intervention=none,exit_option",
        "episodes=1",
        "display=none",
        f"hydra.sweep.dir={root}/s",
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr
    return root / "s"


def test_report_refuses_an_unknown_control_before_loading_any_run(sweep, tmp_path):
    copy = tmp_path / "s"
    shutil.copytree(sweep, copy)
    # A damaged log in a job: loading the runs would stop on it. The control is checked first.
    log = next(copy.glob("1-*")) / store.EPISODES
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + b"{not json\n" + b"".join(lines[1:]))
    proc = wsb("report", str(copy), "--control", "nope", cwd=tmp_path)
    assert_one_line_status_2(proc, "--control 'nope'", "none, exit_option")


def test_report_refuses_an_unwritable_out_at_once_and_keeps_what_is_there(sweep, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me\n")
    proc = wsb("report", str(sweep), "--out", f"{blocker}/report.md", cwd=tmp_path)
    assert_one_line_status_2(proc, f"{blocker} is a file", "--out FILE")
    proc = wsb("report", str(sweep), "--out", str(tmp_path), cwd=tmp_path)
    assert_one_line_status_2(proc, "is a folder", "expected a file name")
    proc = wsb("report", str(sweep), "--plots", str(blocker), cwd=tmp_path)
    assert_one_line_status_2(proc, "--plots DIR")
    assert blocker.read_text() == "keep me\n"


# --- pipes, version, unknown commands --------------------------------------------------------


@pytest.mark.parametrize("args", [["envs"], ["run", "--help"], ["--help"], ["--version"]])
def test_a_closed_stdout_ends_quietly(tmp_path, args):
    # `wsb envs | head -1`: the reader is gone before wsb writes (Python ignores SIGPIPE, so a
    # write raises BrokenPipeError): no traceback, the status a shell gives for SIGPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = wsb(*args, cwd=tmp_path, stdout=write_end)
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 141, proc.stderr


@pytest.mark.parametrize("flag", ["--version", "version"])
def test_version_prints_the_package_version(tmp_path, flag):
    proc = wsb(flag, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wsb (welfare-sandbox) {version('welfare-sandbox')}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["report"], ["wsb report: the following arguments are required: path"]),
        (["report", ".", "--format", "pdf"], ["invalid choice: 'pdf'", "wsb report --help"]),
        (["envs", "extra"], ["unrecognized arguments: extra", "wsb envs --help"]),
        (["report", "/tmp/my", "runs"], ["unrecognized arguments: runs", "quote a path"]),
        (["watch"], ["wsb watch: the following arguments are required: path"]),
    ],
)
def test_a_usage_error_of_a_subcommand_is_one_line(tmp_path, args, expected):
    assert_one_line_status_2(wsb(*args, cwd=tmp_path), *expected)


def test_printing_the_config_checks_the_overrides_too(tmp_path):
    proc = wsb("run", "--cfg", "job", "episods=1", cwd=tmp_path)
    assert_one_line_status_2(proc, "Did you mean episodes?")
    proc = wsb("run", "--cfg", "job", "episodes=3", cwd=tmp_path)
    assert proc.returncode == 0 and "episodes: 3" in proc.stdout, proc.stderr


def test_an_unknown_command_is_one_line_with_the_commands(tmp_path):
    proc = wsb("reprot", "x", cwd=tmp_path)
    assert_one_line_status_2(proc, "'reprot'", "run, watch, replay, report", "wsb report?")


# --- wsb run --help --------------------------------------------------------------------------


def test_run_help_is_written_for_researchers(tmp_path):
    proc = wsb("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "powered by Hydra" not in text and "_schema" not in text
    lines = [line.split() for line in text.splitlines()]
    listed = {words[0] for words in lines if words}
    conf = config_dir()
    for group in ("experiment", "env", "agent", "agent/preset", "intervention", "display"):
        assert f"  {group}: " in text
        assert {p.stem for p in (conf / group).glob("*.yaml")} <= listed, group
    launchers = {p.stem for p in (conf / "hydra" / "launcher").glob("*.yaml")}
    assert {"basic", "joblib", "slurm", "slurm_local", "ray"} | launchers <= listed
    for key in ("seed", "episodes", "max_concurrency", "budget_usd", "resume"):
        assert key in listed
    assert text.count("\n  wsb run ") >= 3  # examples
    assert "hydra.run.dir=PATH" in text and "summary.csv" in text  # where outputs go
    assert max(len(line) for line in text.splitlines()) <= 100


def test_run_help_lists_a_new_experiment_file(tmp_path):
    # The help is read from conf/, so a study design added there shows without a code change.
    from sandbox.overrides import run_help

    conf = tmp_path / "conf"
    shutil.copytree(config_dir(), conf)
    (conf / "experiment" / "probe.yaml").write_text(
        "# @package _global_\n# A probe design for the help test. More text.\nepisodes: 3\n"
    )
    lines = run_help(conf).splitlines()
    assert "probe A probe design for the help test" in [" ".join(x.split()) for x in lines]
