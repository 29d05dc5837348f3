"""The README and docs/ stand on their own and stay true to the code.

A clone of the repository is all a reader has: every link must resolve inside it, and no text
may send the reader to notes outside it. The contract that docs/design.md states (config
groups, action kinds, metrics.json keys) is checked against what the code really has.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from environments.core import ActionKind
from sandbox import runner
from sandbox.display.base import NullDisplay

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: Names of notes that live outside the repository, and a machine's own path to them. (The
#: default place of the BailBench file, beside the repository, may be named: it is a setting.)
OUTSIDE = ("RESEARCH.md", "DESIGN.md", "shared notes", "/work/shared")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _design() -> str:
    return (REPO / "docs" / "design.md").read_text(encoding="utf-8")


def test_docs_exist_and_the_readme_links_them():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("design.md", "science.md"):
        assert (REPO / "docs" / name).is_file()
        assert f"(docs/{name})" in readme


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_reference_leaves_the_repository(path):
    text = path.read_text(encoding="utf-8")
    found = [s for s in OUTSIDE if s in text]
    assert found == [], f"{path.name} points outside the repository: {found}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(path):
    text = path.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor
        resolved = (path.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(REPO), f"{path.name}: {target} leaves the repository"
        assert resolved.exists(), f"{path.name}: {target} does not exist"


def test_every_source_path_docs_name_exists():
    # Paths written in backticks (`sandbox/metrics/rates.py`, `conf/intervention/`) must exist.
    pattern = re.compile(r"`((?:sandbox|environments|conf|tests|benchmarks)/[\w./*-]*)`")
    for path in DOCS[1:]:
        for name in pattern.findall(path.read_text(encoding="utf-8")):
            matches = list(REPO.glob(name.rstrip("/")))
            assert matches, f"{path.name} names {name}, which is not in the repository"


def test_the_config_groups_design_md_lists_are_those_of_conf():
    text = _design()
    for group in ("experiment", "env", "agent", "agent/preset", "intervention", "display"):
        row = re.search(rf"^\| `{re.escape(group)}` \| (.+) \|$", text, re.MULTILINE)
        assert row, f"docs/design.md has no row for the {group} group"
        listed = set(re.findall(r"`(\w+)`", row.group(1)))
        options = {p.stem for p in (REPO / "conf" / group).glob("*.yaml")}
        assert listed == options, f"{group}: docs list {sorted(listed)}, conf has {sorted(options)}"


def test_the_action_kinds_design_md_lists_are_those_of_the_code():
    text = _design()
    section = text.split("**Action kinds**", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"`([A-Z]+)`", section))
    assert listed == {kind.name for kind in ActionKind}


class _Quiet(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def test_the_metrics_keys_design_md_lists_are_those_a_run_writes(compose_cfg, tmp_path):
    text = _design()
    section = text.split("**`metrics.json` keys**", 1)[1].split("; and one block per", 1)[0]
    section = section.split("):", 1)[1]  # after the note on shapes
    listed = set(re.findall(r"`(\w+)`", section))
    result = runner.run(compose_cfg("episodes=2", "env.kwargs.day_length=6"), tmp_path, _Quiet())
    assert result.metrics is not None
    written = set(result.metrics)
    assert listed == written, (
        f"in docs only: {sorted(listed - written)}; written only: {sorted(written - listed)}"
    )
