"""The whole flow through gradio_client, the way a script would drive airbot:
the user's own Q&A file -> short training -> index -> both bots answer -> vote -> decision guide."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

pytestmark = pytest.mark.e2e
TRAIN_TIMEOUT_S = 900


def wait_for_run(client: Client, run: str, timeout_s: float = TRAIN_TIMEOUT_S) -> dict:
    """Poll /train_status until the run ends (phase done, failed or cancelled)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.predict(run, api_name="/train_status")
        if status.get("phase") in ("done", "failed", "cancelled"):
            return status
        time.sleep(2)
    raise AssertionError(f"run {run} did not finish in {timeout_s}s: {status}")


def test_api_drives_the_whole_flow(live_app, tmp_path: Path) -> None:
    client = Client(live_app.url, verbose=False)
    mine = tmp_path / "pet_travel_faq.jsonl"
    mine.write_text("".join(json.dumps({"question": f"How much is a pet carrier of size {i} in the cabin?",
                                        "answer": f"A size {i} carrier costs EUR {20 + 5 * i}."}) + "\n"
                            for i in range(1, 13)))
    report = client.predict(handle_file(str(mine)), api_name="/data_check")[0]
    assert report["rows"] == 12 and report["format"] == "qa"

    run = client.predict(report["dataset"], "lora", 1, 3, 2e-4, 8, 16, 128, 4, api_name="/train_start")
    status = wait_for_run(client, run)
    assert status["phase"] == "done", live_app.log_tail()
    assert status["summary"]["steps"] == 3

    kb_status = client.predict(api_name="/kb_use_sample")[0]
    assert "airline_policy.md" in kb_status

    question = "What is the fee for a small pet travelling in the cabin?"
    result = client.predict(question, "finetuned,rag", run, "default", api_name="/ask")
    answers = result["answers"]
    assert set(answers) == {"finetuned", "rag"}, result
    for answer in answers.values():
        assert answer["answer"].strip() and answer["timings"]["total_s"] > 0
    assert answers["rag"]["sources"] and answers["rag"]["sources"][0]["doc"] == "airline_policy.md"

    chat = client.predict(question, run, "default", [], [], [], [], [], api_name="/chat_ask")
    assert "tok/s" in chat[4] and "tok/s" in chat[5]  # timings under both panes
    assert "airline_policy.md" in chat[8]  # the RAG pane's sources
    recorded, tally = client.predict(api_name="/vote_right")
    assert "Recorded" in recorded and {row[0] for row in tally["data"]} == {"finetuned", "rag"}
    assert (live_app.home / "preferences.jsonl").is_file()

    verdict = client.predict("weekly", 200, "some", False, "high", "low", "relaxed", "medium", True, True, "high",
                             "(none: questionnaire only)", api_name="/guide_recommend")
    assert verdict[4]["verdict"] == "rag"
