"""The environments package stands on its own, and every environment is one TextEnv."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gymnasium
import pytest

import environments
from environments import core
from environments.errors import BankError

PACKAGE = Path(environments.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_errors_py_reaches_into_sandbox():
    reaching = sorted(
        path.name
        for path in PACKAGE.glob("*.py")
        if any(name.split(".")[0] == "sandbox" for name in _imported_modules(path))
    )
    assert reaching == ["errors.py"]


def test_bank_error_is_the_sandbox_error_the_cli_catches():
    from sandbox.errors import BankError as SandboxBankError
    from sandbox.errors import SandboxError

    assert BankError is SandboxBankError
    assert issubclass(BankError, SandboxError)


def test_no_environment_module_is_over_600_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 600} == {}


@pytest.mark.parametrize("env_id", sorted(environments.ENVIRONMENTS))
def test_every_environment_is_a_text_env_that_renders_its_text(env_id):
    env = gymnasium.make(env_id, render_mode="ansi").unwrapped
    assert isinstance(env, core.TextEnv)
    obs, _ = env.reset(seed=3)
    assert env.render() == obs["text"]
    obs, *_ = env.step({"kind": int(core.ActionKind.WAIT), "target": 0, "text": ""})
    assert env.render() == obs["text"]
    with pytest.raises(ValueError, match="render_mode: expected None or one of"):
        type(env)(render_mode="rgb_array")


def test_human_mode_prints_each_observation(capsys):
    env = gymnasium.make("WelfareSandbox/Tradeoff-v0", render_mode="human").unwrapped
    obs, _ = env.reset(seed=0)
    assert capsys.readouterr().out == obs["text"] + "\n\n"
    obs, *_ = env.step({"kind": int(core.ActionKind.TASK), "target": 0, "text": ""})
    assert capsys.readouterr().out == obs["text"] + "\n\n"


def test_importing_sandbox_errors_does_not_import_gymnasium():
    # The CLI imports sandbox.errors first; `wsb --help`, `wsb report` and `wsb watch` must not
    # pay for gymnasium (and the registration of every environment) before printing.
    code = "import sys, sandbox.errors; print('gymnasium' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
