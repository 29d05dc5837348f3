"""The self-report's wordings on the Claude path, against the loopback fake Messages API."""

from __future__ import annotations

import json
from pathlib import Path

from environments.report_wordings import REPORT_WORDINGS
from sandbox import store
from tests.conftest import wsb
from tests.sandbox.conftest import server_requests


def test_the_model_reads_each_logged_wording_and_every_rating_keeps_its_wording(
    make_fake_api, tmp_path: Path
) -> None:
    url = make_fake_api()  # a random tool each time: some reports, some invalid answers
    out = tmp_path / "run"
    env = {"ANTHROPIC_API_KEY": "sk-ant-test-wording", "ANTHROPIC_BASE_URL": url}
    wsb("run", "agent=claude", "agent.cache=off", "episodes=2", "env.kwargs.day_length=12",
        "env.kwargs.report_every=1", "display=none", f"hydra.run.dir={out}", cwd=tmp_path,
        env=env, check=True)  # fmt: skip
    reports = [
        r
        for r in store.read_records(out / "episodes.jsonl")
        if r["type"] == "step" and r["info"].get("phase") == "report"
    ]
    assert reports
    sent = json.dumps([r["json"]["messages"] for r in server_requests(url, "/v1/messages")])
    for record in reports:
        wording = record["info"]["report_wording"]
        assert json.dumps(REPORT_WORDINGS[wording])[1:-1] in sent
    metrics = json.loads((out / "metrics.json").read_text())["self_report"]
    assert metrics["n"] > 0 and metrics["wording"]["n_ratings"] == metrics["n"]
    assert metrics["wording"]["wordings"]
