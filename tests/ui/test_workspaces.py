"""Private workspaces, through the real app over HTTP: alice's things are invisible and untouchable for bob.

Each test runs twice: with the app's own logins (``AIRBOT_AUTH="alice:pw-a,bob:pw-b"``, gradio_client
with ``auth=``) and with two Hugging Face profiles (the OAuth session Gradio's mocked login route
writes, with a stand-in profile, sent as the signed ``session`` cookie). The app runs in this process
in strict mode, so a store access outside any workspace fails instead of silently using AIRBOT_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airbot import workspace
from airbot.workspace import Workspace
from tests._serving import free_port

ROOT = Path(__file__).resolve().parents[2]
QA_CSV = ("question,answer\nWhat is the cabin bag limit?,One cabin bag of 8 kg.\n"
          "Can I bring a pet?,Small pets may travel in the cabin for USD 70.\n")
POLICY_MD = "# Alice's policy\n\n## 1. Bags\n\n1.1 Each passenger may bring one cabin bag of up to 8 kg.\n"
EVAL = {"bots": {"finetuned": {"fact_accuracy": 0.2, "fact_accuracy_ci": [0.1, 0.35], "n": 40},
                 "rag": {"fact_accuracy": 0.85, "fact_accuracy_ci": [0.7, 0.93], "n": 40}}}
HF_PROFILE = {"access_token": "stand-in", "token_type": "bearer", "expires_in": 3600, "scope": "openid profile",
              "userinfo": {"sub": "0", "name": "", "preferred_username": "", "profile": "", "picture": ""}}


@dataclass
class Pair:
    """Two signed-in clients of one running app, and the workspaces they should land in."""

    how: str
    url: str
    alice: Any
    bob: Any
    alice_ws: Workspace
    bob_ws: Workspace
    sleeper: subprocess.Popen


def _hf_cookie(url: str, name: str) -> str:
    """Sign in as HF user ``name`` through Gradio's (mocked) OAuth callback; its signed session cookie."""
    HF_PROFILE["userinfo"] = {**HF_PROFILE["userinfo"], "preferred_username": name, "name": name.title()}  # type: ignore[dict-item]
    resp = httpx.get(url + "login/callback", follow_redirects=False)
    cookie = resp.cookies.get("session")
    assert cookie, resp.headers
    return f"session={cookie}"


def _seed_alice(pair_ws: Workspace, tmp: Path, sleeper: subprocess.Popen) -> None:
    """What alice keeps that the routes need: a finished run, a run in flight, an evaluation, a vote."""
    from airbot.bots.arena import record_vote
    from airbot.train import runs
    from airbot.train import status as train_status

    with workspace.using(pair_ws):
        run_dir = runs.create_run("alice-run")
        train_status.write_status(run_dir, phase="done", method="lora", started=time.time())
        (run_dir / "adapter").mkdir()
        (run_dir / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
        live = runs.create_run("alice-live")
        train_status.write_status(live, phase="training", method="lora", started=time.time(), pid=sleeper.pid)
        evals = workspace.root() / "evals" / "alice-eval"
        evals.mkdir(parents=True)
        (evals / "eval.json").write_text(json.dumps(EVAL))
        record_vote("right", "Can I bring a pet?", {"bot": "finetuned", "answer": "No."},
                    {"bot": "rag", "answer": "Yes, for USD 70."})


@pytest.fixture(scope="module", params=["logins", "hf"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """The real app on a free port of 127.0.0.1 with private workspaces, alice's things already made,
    and a client each for alice and bob (signed in by app login or by HF profile)."""
    import gradio.oauth
    from gradio_client import Client, handle_file

    from airbot.ui.app import build_app, serve_options

    how = request.param
    tmp = tmp_path_factory.mktemp(f"ws-{how}")
    home = tmp / "home"
    home.mkdir()
    (home / "models").symlink_to(Path(os.environ["AIRBOT_HOME"]) / "models", target_is_directory=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRBOT_HOME", str(home))
        mp.delenv("AIRBOT_AUTH_FILE", raising=False)
        if how == "logins":
            mp.setenv("AIRBOT_AUTH", "alice:pw-a,bob:pw-b")
        else:
            mp.delenv("AIRBOT_AUTH", raising=False)
            mp.setattr(gradio.oauth, "_get_mocked_oauth_info", lambda: HF_PROFILE)  # the stand-in profile
        mp.setattr(workspace, "_strict", True)
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        with workspace.using(workspace.NOBODY):
            demo = build_app(private=True, hf_login=how == "hf")
        demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                            **serve_options())
        try:
            if how == "logins":
                alice = Client(url, auth=("alice", "pw-a"), verbose=False)
                bob = Client(url, auth=("bob", "pw-b"), verbose=False)
                alice_ws, bob_ws = Workspace.of("user", "alice"), Workspace.of("user", "bob")
            else:
                alice = Client(url, headers={"Cookie": _hf_cookie(url, "alice-hf")}, verbose=False)
                bob = Client(url, headers={"Cookie": _hf_cookie(url, "bob-hf")}, verbose=False)
                alice_ws, bob_ws = Workspace.of("hf", "alice-hf"), Workspace.of("hf", "bob-hf")
            _seed_alice(alice_ws, tmp, sleeper)
            (tmp / "alice-qa.csv").write_text(QA_CSV)
            alice.predict(handle_file(str(tmp / "alice-qa.csv")), api_name="/data_check")
            (tmp / "alice-policy.md").write_text(POLICY_MD)
            alice.predict([handle_file(str(tmp / "alice-policy.md"))], api_name="/kb_add")
            yield Pair(how, url, alice, bob, alice_ws, bob_ws, sleeper)
        finally:
            demo.close()
            sleeper.kill()
            sleeper.wait()


def _refused(client: Any, *args: Any, api_name: str) -> str:
    """The error message the app answers ``api_name`` with (the call must fail)."""
    with pytest.raises(Exception) as caught:  # gradio_client raises AppError carrying the gr.Error text
        client.predict(*args, api_name=api_name)
    return str(caught.value)


def test_each_lands_in_their_own_workspace(pair: Pair) -> None:
    assert pair.alice.predict(api_name="/whoami")["name"] == pair.alice_ws.name
    assert pair.bob.predict(api_name="/whoami")["name"] == pair.bob_ws.name
    assert pair.alice_ws.root != pair.bob_ws.root and pair.alice_ws.root.is_relative_to(Path(os.environ["AIRBOT_HOME"]))


def test_anonymous_callers_cannot_connect_when_logins_are_set(pair: Pair) -> None:
    from gradio_client import Client

    if pair.how != "logins":
        anonymous = Client(pair.url, verbose=False)  # HF login is optional: an anonymous visitor gets a session
        assert anonymous.predict(api_name="/whoami")["kind"] == "session"
        _, stored = anonymous.predict(api_name="/data_list")
        assert stored == []
        return
    with pytest.raises(Exception, match=r"credentials|login|401"):
        Client(pair.url, verbose=False)
    for path in ("config", "gradio_api/info", "gradio_api/file=" + str(pair.alice_ws.root / "preferences.jsonl"),
                 "gradio_api/queue/data?session_hash=x"):
        assert httpx.get(pair.url + path).status_code == 401, path
    assert httpx.post(pair.url + "gradio_api/call/whoami", json={"data": []}).status_code == 401
    assert httpx.post(pair.url + "gradio_api/queue/join", json={"data": [], "fn_index": 0,
                                                                "session_hash": "x"}).status_code == 401


def test_a_dataset_alice_uploads_is_in_her_list_and_not_in_bobs(pair: Pair) -> None:
    _, alices = pair.alice.predict(api_name="/data_list")
    _, bobs = pair.bob.predict(api_name="/data_list")
    assert [d["name"] for d in alices] == ["alice-qa"] and bobs == []
    assert (pair.alice_ws.root / "datasets" / "alice-qa" / "data.jsonl").is_file()


def test_bob_cannot_open_preview_or_train_on_alices_dataset(pair: Pair) -> None:
    assert "alice-qa" in _refused(pair.bob, "alice-qa", api_name="/data_open")
    _refused(pair.bob, "alice-qa", 1, api_name="/data_preview")
    assert "alice-qa" in _refused(pair.bob, "alice-qa", "lora", 1, 1, 0, 4, 8, 64, 1, api_name="/train_start")
    assert "alice-qa" not in str(pair.bob.predict(api_name="/train_datasets"))
    assert not (pair.bob_ws.root / "runs").is_dir() or not any((pair.bob_ws.root / "runs").iterdir())


def test_bob_cannot_read_or_remove_alices_documents(pair: Pair, tmp_path: Path) -> None:
    from gradio_client import handle_file

    alice_status = str(pair.alice.predict(None, api_name="/kb_status"))
    assert "alice-policy.md" in alice_status
    assert "alice-policy.md" not in str(pair.bob.predict(None, api_name="/kb_status"))
    _refused(pair.bob, "alice-policy.md", api_name="/kb_remove")
    _refused(pair.bob, "alice-policy.md", api_name="/kb_chunks")
    assert "alice-policy.md" in str(pair.alice.predict(None, api_name="/kb_status"))  # still there
    (tmp_path / "alice-policy.md").write_text(POLICY_MD.replace("8 kg", "5 kg"))
    _refused(pair.bob, "alice-policy.md", handle_file(str(tmp_path / "alice-policy.md")), api_name="/kb_replace")
    chunks = "".join(p.read_text() for p in (pair.alice_ws.root / "indexes" / "default").glob("chunks-*.jsonl"))
    assert "8 kg" in chunks and "5 kg" not in chunks


def test_bob_cannot_see_cancel_or_download_alices_runs(pair: Pair) -> None:
    assert [r["name"] for r in pair.bob.predict(api_name="/runs_list")] == []
    assert {r["name"] for r in pair.alice.predict(api_name="/runs_list")} == {"alice-run", "alice-live"}
    assert "alice-run" in _refused(pair.bob, "alice-run", api_name="/train_status")
    assert "alice-live" in _refused(pair.bob, "alice-live", api_name="/train_cancel")
    assert "No training is running" in _refused(pair.bob, "", api_name="/train_cancel")  # not alice's, though hers runs
    assert not (pair.alice_ws.root / "runs" / "alice-live" / "cancel").exists()
    assert pair.alice.predict("alice-live", api_name="/train_status")["phase"] == "training"
    assert "alice-run" in _refused(pair.bob, "alice-run", api_name="/run_download")
    assert "alice-run" in _refused(pair.bob, "alice-run", api_name="/run_export_merged")
    mine = pair.alice.predict("alice-run", api_name="/run_download")  # the owner can
    assert Path(mine).is_file() and Path(mine).stat().st_size > 0


def test_bob_cannot_evaluate_or_ask_with_alices_things(pair: Pair, tmp_path: Path) -> None:
    from gradio_client import handle_file

    (tmp_path / "q.jsonl").write_text(json.dumps({"question": "Pet fee?", "answer": "USD 70.", "facts": ["USD 70"]}) + "\n")
    questions = handle_file(str(tmp_path / "q.jsonl"))
    assert "alice-run" in _refused(pair.bob, "alice-run", "(no index)", ["finetuned"], questions, 1, api_name="/eval_run")
    pair.bob.predict("(no run)", "default", ["rag"], questions, 1, api_name="/eval_run")  # "default" is his own index
    (bobs,) = (pair.bob_ws.root / "evals").iterdir()
    assert "alice-policy" not in (bobs / "questions.jsonl").read_text()  # his empty index: nothing of alice's found
    # "default" names bob's own index, which is empty: alice's documents are not there to change
    assert "holds nothing" in _refused(pair.bob, "alice-run", "default", ["finetuned"], None, None, None, None,
                                       api_name="/policy_change_run")
    _refused(pair.bob, "alice-eval", api_name="/eval_results")
    pair.alice.predict("alice-eval", api_name="/eval_results")  # the owner can
    assert "alice-run" in _refused(pair.bob, "Pet?", "finetuned", "alice-run", "", api_name="/ask")
    assert "alice-policy" not in json.dumps(pair.bob.predict("Bag limit?", "rag", "", "default", api_name="/ask"))
    assert not (pair.alice_ws.root / "evals").is_dir() or \
        sorted(p.name for p in (pair.alice_ws.root / "evals").iterdir()) == ["alice-eval"]


def test_votes_and_the_guides_evidence_are_per_workspace(pair: Pair) -> None:
    form = ["yearly", 100, "none", False, "medium", "medium", "normal", "medium", True, True, "medium"]
    *_, alice_evidence, _ = pair.alice.predict(*form, "alice-eval", api_name="/guide_recommend")
    *_, bob_evidence, _ = pair.bob.predict(*form, "alice-eval", api_name="/guide_recommend")
    assert "85%" in alice_evidence and "vote" in alice_evidence.lower()
    assert "85%" not in bob_evidence and "vote" not in bob_evidence.lower()
    assert (pair.alice_ws.root / "preferences.jsonl").is_file() and not (pair.bob_ws.root / "preferences.jsonl").exists()


def test_two_anonymous_visitors_have_separate_session_workspaces(pair: Pair, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    if pair.how == "logins":
        pytest.skip("with logins set there are no anonymous visitors (see the test above)")
    first, second = Client(pair.url, verbose=False), Client(pair.url, verbose=False)
    (tmp_path / "mine.csv").write_text(QA_CSV)
    first.predict(handle_file(str(tmp_path / "mine.csv")), api_name="/data_check")
    assert [d["name"] for d in first.predict(api_name="/data_list")[1]] == ["mine"]
    assert second.predict(api_name="/data_list")[1] == []
    sessions = Path(os.environ["AIRBOT_HOME"]) / "sessions"
    assert [p.name for p in sessions.iterdir() if (p / "datasets" / "mine").is_dir()]


def test_a_browser_finds_its_workspace_again_by_its_visitor_cookie(pair: Pair, tmp_path: Path) -> None:
    """The page sets a random ``airbot_visitor`` cookie; two sessions (a reload) with it share a workspace."""
    from gradio_client import Client, handle_file

    from airbot.ui.identity import VISITOR_COOKIE

    if pair.how == "logins":
        pytest.skip("with logins set there are no anonymous visitors")
    assert f"{VISITOR_COOKIE}=" in httpx.get(pair.url).text  # the script in the page's head
    cookie = {"Cookie": f"{VISITOR_COOKIE}=0b8f3c1e-5d2a-4f6e-9a7b-1c2d3e4f5a6b"}
    before_reload, after_reload = Client(pair.url, headers=cookie, verbose=False), Client(pair.url, headers=cookie, verbose=False)
    (tmp_path / "kept.csv").write_text(QA_CSV)
    before_reload.predict(handle_file(str(tmp_path / "kept.csv")), api_name="/data_check")
    assert [d["name"] for d in after_reload.predict(api_name="/data_list")[1]] == ["kept"]
    assert "kept" not in str(Client(pair.url, verbose=False).predict(api_name="/data_list"))  # another browser


def test_a_session_over_its_quota_cannot_store_more(pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradio_client import Client, handle_file

    if pair.how == "logins":
        pytest.skip("the quota is for anonymous visitors")
    visitor = Client(pair.url, verbose=False)
    (tmp_path / "first.csv").write_text(QA_CSV)
    visitor.predict(handle_file(str(tmp_path / "first.csv")), api_name="/data_check")
    monkeypatch.setenv("AIRBOT_SESSION_QUOTA_MB", "0.0001")
    (tmp_path / "second.csv").write_text(QA_CSV)
    assert "MB" in _refused(visitor, handle_file(str(tmp_path / "second.csv")), api_name="/data_check")
    assert [d["name"] for d in visitor.predict(api_name="/data_list")[1]] == ["first"]  # reading still works


def test_failed_logins_are_throttled(pair: Pair) -> None:
    """Wrong passwords fired for 2.5 s: only the first few are even answered (0.5 s, then 1 s, 2 s ...)."""
    if pair.how != "logins":
        pytest.skip("app logins only")
    answered, started = 0, time.monotonic()
    with httpx.Client(timeout=5) as http:
        while time.monotonic() - started < 2.5:
            try:
                resp = http.post(pair.url + "login", data={"username": "mallory", "password": f"guess{answered}"})
            except httpx.TimeoutException:
                break
            assert resp.status_code == 400
            answered += 1
    assert answered <= 3, f"{answered} wrong passwords answered in 2.5 s"
