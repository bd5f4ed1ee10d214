"""Hosting: what Spaces reads and installs, logins (throttled), the share guard, workspaces and the
training cap, ZeroGPU entry points with the real ``spaces`` package. Routes per user: tests/ui/test_workspaces.py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from airbot import hosting, workspace
from airbot.errors import AirbotError, JobError
from airbot.workspace import HOME, Workspace, WorkspaceError
from tests._serving import free_port, wait_for_page

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def _front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "README.md must start with Spaces front matter"
    return yaml.safe_load(text.split("---\n")[1])


def _pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if "==" in line and not line.startswith(("#", "-")))


def test_front_matter_and_space_yaml_agree() -> None:
    space = yaml.safe_load((ROOT / "space.yaml").read_text())
    front = _front_matter()
    settings = {k: v for k, v in space.items() if k != "variables"}
    assert front == settings
    assert front["hf_oauth"] is True  # the Space offers "Sign in with Hugging Face"


def test_sdk_version_is_the_pinned_gradio() -> None:
    assert str(_front_matter()["sdk_version"]) == _pins()["gradio"]
    assert (ROOT / _front_matter()["app_file"]).is_file()


def test_requirements_give_a_space_the_cpu_torch_and_login_packages() -> None:
    text = (ROOT / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text.splitlines()
    pins = _pins()
    assert pins["torch"] == "2.13.0" and {"itsdangerous", "authlib", "spaces"} <= set(pins)


# --- logins --------------------------------------------------------------------------------------
def test_sharing_and_login_are_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRBOT_AUTH", raising=False)
    monkeypatch.delenv("AIRBOT_AUTH_FILE", raising=False)
    assert hosting.auth_from_settings() is None
    monkeypatch.setenv("AIRBOT_AUTH", "ana:secret,bo:pw:with:colons")
    assert hosting.auth_from_settings() == [("ana", "secret"), ("bo", "pw:with:colons")]
    from airbot.cli import build_parser

    args = build_parser().parse_args(["app"])
    assert args.share is False and args.share_without_login is False


def test_logins_come_from_the_variable_and_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "logins.txt").write_text("# team\ncarol:pw, with comma\n\ndave:d\n")
    monkeypatch.setenv("AIRBOT_AUTH", "alice:pw-a,bob:pw-b")
    monkeypatch.setenv("AIRBOT_AUTH_FILE", str(tmp_path / "logins.txt"))
    assert hosting.logins() == {"alice": "pw-a", "bob": "pw-b", "carol": "pw, with comma", "dave": "d"}
    monkeypatch.setenv("AIRBOT_AUTH", "alice:pw-a,bob")  # a typo must not leave the app open
    with pytest.raises(AirbotError, match="entry 2"):
        hosting.logins()


def test_200_wrong_passwords_take_minutes_not_milliseconds() -> None:
    """Measured: 200 wrong passwords fired at once for one user name; in 2 s at most 2 are answered
    (0.5 s, then 1 s, ...), so the 200 take over 25 minutes; bob signs in meanwhile without waiting."""
    throttle = hosting.LoginThrottle({"alice": "pw-a", "bob": "pw-b"})

    async def attack() -> tuple[int, float]:
        tries = [asyncio.ensure_future(throttle.check("alice", f"guess-{i}")) for i in range(200)]
        await asyncio.sleep(0)
        started = time.monotonic()
        assert await throttle.check("bob", "pw-b")  # another user's lane is not held up
        bob_s = time.monotonic() - started
        await asyncio.sleep(2.0)
        answered = sum(t.done() for t in tries)
        for t in tries:
            t.cancel()
        await asyncio.gather(*tries, return_exceptions=True)
        return answered, bob_s

    answered, bob_s = _in_own_loop(attack())
    assert answered <= 2 and bob_s < 0.5, (answered, bob_s)
    assert sum(throttle.delay_s(n) for n in range(1, 201)) > 25 * 60
    assert _in_own_loop(throttle.check("alice", "pw-a"))  # the right password still works


def _in_own_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Runs ``coro`` on a fresh event loop in its own thread: an earlier test in the same process
    (a served Gradio app) may leave a loop running on the main thread, where ``asyncio.run`` refuses."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_share_needs_a_login_or_an_explicit_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRBOT_AUTH", raising=False)
    monkeypatch.delenv("AIRBOT_AUTH_FILE", raising=False)
    with pytest.raises(AirbotError, match="--share-without-login"):
        hosting.check_share(share=True, share_without_login=False)
    hosting.check_share(share=True, share_without_login=True)
    hosting.check_share(share=False, share_without_login=False)
    monkeypatch.setenv("AIRBOT_AUTH", "alice:pw-a")
    hosting.check_share(share=True, share_without_login=False)
    from airbot.cli import main

    monkeypatch.delenv("AIRBOT_AUTH")
    assert main(["app", "--share", "--port", "1"]) == 2  # refused before anything is built or served


def test_who_gets_private_workspaces(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AIRBOT_AUTH", "AIRBOT_AUTH_FILE", "AIRBOT_WORKSPACES", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    assert not hosting.private_workspaces()  # a local app is one person's, like the CLI
    assert hosting.private_workspaces(share=True)
    monkeypatch.setenv("SPACE_ID", "someone/airbot")
    assert hosting.private_workspaces()
    monkeypatch.setenv("AIRBOT_WORKSPACES", "shared")
    assert not hosting.private_workspaces(share=True)


def test_home_defaults_to_the_spaces_volume(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airbot.config import airbot_home

    monkeypatch.setattr(hosting, "DATA_VOLUME", tmp_path / "data")
    monkeypatch.setenv("SPACE_ID", "someone/airbot")
    monkeypatch.delenv("AIRBOT_HOME")
    assert hosting.default_home() == "~/.airbot"  # no volume mounted
    (tmp_path / "data").mkdir()
    assert airbot_home() == tmp_path / "data" / "airbot"
    monkeypatch.delenv("SPACE_ID")
    assert hosting.default_home() == "~/.airbot"  # a /data elsewhere is not ours to use


# --- workspaces ----------------------------------------------------------------------------------
def test_workspace_names_specs_and_folders(fresh_home: Path) -> None:
    alice = Workspace.of("user", "alice")
    assert alice.root == fresh_home / "users" / "alice" and Workspace.parse(alice.spec) == alice
    assert Workspace.parse("alice") == alice and Workspace.parse("home") == HOME and HOME.root == fresh_home
    odd = Workspace.of("user", "ann@example.com")  # not folder-safe: hashed, and no safe name can equal it
    assert odd.name.startswith("_") and Workspace.parse(odd.spec) == odd
    assert Workspace.of("user", "..").name.startswith("_")
    session = Workspace.of("session", "browser-token-123")
    assert "browser-token" not in session.spec and session.root.parent == fresh_home / "sessions"
    for bad in ("../x", "user:a/b", "root:alice", "hf:"):
        with pytest.raises(WorkspaceError):
            Workspace.parse(bad)


def test_the_store_follows_the_current_workspace(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airbot.storage import resolve_name, store_root

    monkeypatch.delenv(workspace.ENV, raising=False)
    assert store_root() == fresh_home  # the CLI's single-user workspace
    with workspace.using(Workspace.of("user", "alice")):
        assert resolve_name("runs", "r1") == fresh_home / "users" / "alice" / "runs" / "r1"
        seen: list[Path] = []
        thread = threading.Thread(target=workspace.carry(lambda: seen.append(store_root())))
        thread.start()
        thread.join()
        assert seen == [fresh_home / "users" / "alice"]  # carried into a thread
    monkeypatch.setenv(workspace.ENV, "user:bob")  # what --user and a training process get
    assert store_root() == fresh_home / "users" / "bob"
    monkeypatch.setattr(workspace, "_strict", True)
    with pytest.raises(RuntimeError, match="outside any visitor's workspace"):
        store_root()


def test_cli_user_flag_works_in_that_workspace(fresh_home: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from airbot.cli import main
    from airbot.samples import sample_path

    monkeypatch.delenv(workspace.ENV, raising=False)
    assert main(["--user", "alice", "data", "check", str(sample_path("heldout")), "--save", "alices"]) == 0
    assert (fresh_home / "users" / "alice" / "datasets" / "alices").is_dir()
    assert not (fresh_home / "datasets" / "alices").exists()
    assert main(["--user", "../etc", "data", "list"]) == 2
    assert "not a workspace" in capsys.readouterr().err


def test_session_workspaces_expire_and_have_a_quota(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Workspace.of("session", "old-browser"), Workspace.of("session", "new-browser")
    for ws in (old, new):
        workspace.touch(ws)
        (ws.root / "datasets").mkdir(parents=True)
        (ws.root / "datasets" / "blob").write_bytes(b"x" * 300_000)
    past = time.time() - 25 * 3600
    os.utime(old.root / workspace.SEEN, (past, past))
    monkeypatch.setenv("AIRBOT_SESSION_TTL_H", "24")
    assert workspace.sweep_sessions() == [old.name]
    assert not old.root.exists() and new.root.exists()
    monkeypatch.setenv("AIRBOT_SESSION_QUOTA_MB", "0.2")
    with pytest.raises(WorkspaceError, match=r"more than the 0\.2 MB"):
        workspace.check_quota(new)
    workspace.check_quota(Workspace.of("user", "alice"))  # logins have no quota


# --- trainings: one per workspace, AIRBOT_MAX_TRAININGS on the machine ---------------------------
@pytest.fixture
def fake_trainer(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``jobs._spawn`` replaced by a child that holds its slot for a moment and finishes the run."""
    from airbot.train import jobs

    started: list[dict] = []

    def spawn(config, run_dir: Path, data_path: Path, slot: int | None = None, resume: bool = False) -> subprocess.Popen:
        started.append({"run": run_dir.name, "workspace": workspace.current().spec})
        code = ("import json, sys, time; time.sleep(1.5); "
                "p = sys.argv[1]; s = json.load(open(p)); s['phase'] = 'done'; json.dump(s, open(p, 'w'))")
        return subprocess.Popen([sys.executable, "-c", code, str(run_dir / "status.json")],
                                pass_fds=() if slot is None else (slot,))

    monkeypatch.setattr(jobs, "_spawn", spawn)
    monkeypatch.setattr(jobs, "check_fits", lambda config: 0.0)
    return started


def test_trainings_wait_in_line_for_the_machines_slot(fresh_home: Path, tmp_path: Path, fake_trainer: list[dict],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from airbot.config import load_config
    from airbot.samples import sample_path
    from airbot.train import jobs, runs

    monkeypatch.setenv("AIRBOT_MAX_TRAININGS", "1")
    config = load_config(None, ["train.max_steps=1"])
    data = sample_path("train")
    held = jobs._take_slot()  # someone else's training (a CLI run) holds the only slot
    assert held is not None and jobs.free_slots() == 0
    alice, bob, carol = (Workspace.of("user", n) for n in ("alice", "bob", "carol"))
    try:
        with workspace.using(alice):
            a_run = jobs.start_training(config, data, name="a")
            with pytest.raises(JobError, match="one model at a time"):
                jobs.start_training(config, data, name="a2")  # one per workspace
        with workspace.using(bob):
            b_run = jobs.start_training(config, data, name="b")
        with workspace.using(carol):
            c_run = jobs.start_training(config, data, name="c")
        statuses = [runs.read_status(r) for r in (a_run, b_run, c_run)]
        assert [s["queue_position"] for s in statuses] == [1, 2, 3] and fake_trainer == []
        assert "number 2 in line" in statuses[1]["message"] and all(s["phase"] == "queued" for s in statuses)
        with workspace.using(bob):
            assert jobs.cancel(b_run)["phase"] == "cancelled"  # leaves the line
        assert runs.read_status(c_run)["queue_position"] == 2
    finally:
        os.close(held)
    deadline = time.time() + 30
    while time.time() < deadline and runs.read_status(c_run)["phase"] != "done":
        time.sleep(0.2)
    assert [s["run"] for s in fake_trainer] == ["a", "c"]  # in turn, never two at once
    assert [s["workspace"] for s in fake_trainer] == ["user:alice", "user:carol"]  # each in its own workspace
    assert runs.read_status(a_run)["phase"] == "done" and runs.read_status(b_run)["phase"] == "cancelled"


def test_a_training_process_is_given_its_workspace_and_slot(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airbot.config import load_config
    from airbot.train import jobs, runs

    seen: dict = {}

    def popen(cmd: list[str], **kwargs) -> None:
        seen.update(kwargs)
        raise OSError("not started in this test")

    monkeypatch.setattr(jobs.subprocess, "Popen", popen)
    with workspace.using(Workspace.of("hf", "alice")):
        run_dir = runs.create_run("x")
        with pytest.raises(OSError):
            jobs._spawn(load_config(), run_dir, Path("d.jsonl"), slot=7)
    assert seen["env"][workspace.ENV] == "hf:alice" and seen["env"][jobs.SLOT_FD_ENV] == "7"
    assert seen["pass_fds"] == (7,)


def test_the_training_poll_ticks_only_while_a_run_is_in_flight(fresh_home: Path) -> None:
    import gradio as gr

    from airbot.ui import train_tab
    from airbot.ui.app import build_app

    timers = [b for b in build_app(private=False).blocks.values() if isinstance(b, gr.Timer)]
    assert timers and all(t.active is False for t in timers)  # an open tab with nothing running polls nothing
    assert train_tab.poll("", "")[-1].active is False
    from tests._fake_runs import fake_run

    fake_run("live", time.time(), adapter=False, phase="training", pid=os.getpid())
    assert train_tab.poll("", "")[-1].active is True  # a page that finds a run in flight polls it


# --- ZeroGPU, with the real spaces package (a no-op off ZeroGPU) ---------------------------------
def test_gpu_task_is_a_no_op_off_zero_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import spaces

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)

    def work() -> int:
        return 7

    assert hosting.gpu_task(work) is work
    assert spaces.GPU(duration=30)(work) is work  # the real decorator, off ZeroGPU


def test_generating_events_are_zero_gpu_entry_points(monkeypatch: pytest.MonkeyPatch, fresh_home: Path) -> None:
    """With ZeroGPU switched on for airbot (spaces itself stays off this machine's GPU-less path), the
    chat, ask, evaluation and policy-change events go through spaces.GPU and still work, in the caller's workspace."""
    from airbot.ui.app import GPU_EVENTS, build_app

    monkeypatch.setattr(hosting, "zero_gpu", lambda: True)
    monkeypatch.setattr(hosting, "GPU_TASKS", {})
    demo = build_app(private=False)
    assert set(hosting.GPU_TASKS) == set(GPU_EVENTS)
    whoami = next(f.fn for f in demo.fns.values() if f.api_name == "whoami")
    wrapped = workspace.on_gpu(whoami, 30, "probe")
    with workspace.using(Workspace.of("user", "alice")):
        assert wrapped()["name"] == "alice"  # the workspace travels into the GPU call as an argument


def test_zero_gpu_trains_in_process_with_the_same_files(fresh_home: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """On ZeroGPU the run trains inside a spaces.GPU call in this process: status, metrics, adapter."""
    from airbot.config import load_config
    from airbot.samples import sample_path
    from airbot.train import jobs, runs

    monkeypatch.setattr(hosting, "zero_gpu", lambda: True)
    monkeypatch.setattr(hosting, "GPU_TASKS", {})
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(sample_path("train").read_text().splitlines()[:8]) + "\n")
    config = load_config(None, ["train.method=lora", "train.max_steps=1", "train.max_length=64", "train.probe=false",
                                "train.learned_check=false", "data.heldout_fraction=0", "model.device=cpu"])
    with workspace.using(Workspace.of("user", "alice")):
        run_dir = jobs.start_training(config, data, name="zero")
        status = jobs.wait(run_dir, timeout_s=300)
    assert status["phase"] == "done", status
    assert status["pid"] == os.getpid() and "train" in hosting.GPU_TASKS
    assert runs.has_adapter(run_dir) and (run_dir / "metrics.jsonl").is_file()
    assert run_dir.parent == fresh_home / "users" / "alice" / "runs"


# --- a Space as Spaces builds it ---------------------------------------------------------------
def test_a_space_installs_cpu_torch_and_starts(tmp_path: Path) -> None:
    """A fresh venv resolves requirements.txt as a Space's build does (``pip install -r``; here with
    ``--dry-run``: the full install of ~100 packages is too slow for CI) to the pins and CPU torch;
    then app.py starts as Spaces runs it (SPACE_ID, OAuth variables, no AIRBOT_HOME), from the
    project venv, and serves its page and an anonymous visitor's session workspace."""
    venv = tmp_path / "space-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    report = tmp_path / "report.json"
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--quiet", "--retries", "1",
                           "--report", str(report), "-r", str(ROOT / "requirements.txt")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    chosen = {_canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    assert chosen["torch"] in ("2.13.0", "2.13.0+cpu")  # +cpu from the CPU index (or this machine's wheel cache)
    assert not [name for name in chosen if name.startswith("nvidia-")]  # no CUDA wheels on a CPU Space
    wrong = {name: chosen.get(_canonical(name)) for name, version in _pins().items()
             if chosen.get(_canonical(name), "").split("+")[0] != version}
    assert not wrong, wrong

    port = free_port()
    home = tmp_path / "space-home"
    env = {**os.environ, "SPACE_ID": "someone/airbot", "SYSTEM": "spaces", "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "HOME": str(home), "OAUTH_CLIENT_ID": "stand-in",
           "OAUTH_CLIENT_SECRET": "stand-in", "OAUTH_SCOPES": "openid profile",
           "OPENID_PROVIDER_URL": "https://huggingface.co"}
    env.pop("AIRBOT_HOME", None)
    (home / ".airbot").mkdir(parents=True)
    (home / ".airbot" / "models").symlink_to(Path(os.environ["AIRBOT_HOME"]) / "models", target_is_directory=True)
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        page = wait_for_page(f"http://127.0.0.1:{port}/", app, 240,
                             lambda: app.stderr.read().decode(errors="replace") if app.stderr else "")
        assert "airbot" in page
        from gradio_client import Client

        visitor = Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert visitor.predict(api_name="/whoami")["kind"] == "session"
        _, stored = visitor.predict(api_name="/data_list")
        assert stored == []
        buttons = [c.get("props", {}).get("value") for c in visitor.config["components"] if c.get("type") == "button"]
        assert "Sign in with Hugging Face" in buttons
    finally:
        app.terminate()
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait(timeout=20)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
