"""airbot.train.progress and airbot.train.status: a Reporter writes status.json, hears a cancel
through the run's flag file and writes the final phase; RunCallback turns the trainer's logs into
metrics.jsonl lines (loss, tokens/s, ETA) and stops training at the next step after a cancel."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from airbot.storage import read_json
from airbot.train import status as train_status
from airbot.train.progress import Reporter, RunCallback


@pytest.fixture
def reporter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Reporter:
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)  # a single process: rank 0 writes
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return Reporter(run_dir)


def test_update_merges_into_status_json_and_tells_the_progress_callback(reporter: Reporter) -> None:
    seen: list[dict] = []
    reporter.progress = seen.append
    reporter.update(phase="training", step=1, total=10)
    reporter.update(step=2)
    status = read_json(reporter.run_dir / "status.json")
    assert status is not None
    assert status["phase"] == "training" and status["step"] == 2 and status["total"] == 10
    assert status["name"] == "run" and status["partial"] is False and status["updated"] > 0
    assert [s["step"] for s in seen] == [1, 2]


def test_stop_requested_follows_the_cancel_flag_and_the_should_stop_callback(reporter: Reporter) -> None:
    assert not reporter.stop_requested() and not train_status.cancel_requested(reporter.run_dir)
    train_status.request_cancel(reporter.run_dir)
    assert reporter.stop_requested()
    other = Reporter(reporter.run_dir.parent, should_stop=lambda: True)
    assert other.stop_requested()


def test_finish_writes_the_final_phase(reporter: Reporter) -> None:
    reporter.update(phase="training", progress=0.4)
    reporter.finish("done", partial=False, summary={"train_loss": 0.8})
    status = read_json(reporter.run_dir / "status.json")
    assert status is not None
    assert status["phase"] == "done" and status["progress"] == 1.0 and status["message"] == "done"
    assert status["summary"] == {"train_loss": 0.8} and status["eta_s"] == 0 and status["finished"] > 0

    reporter.finish("cancelled", partial=True, summary={})
    status = read_json(reporter.run_dir / "status.json")
    assert status is not None
    assert status["phase"] == "cancelled" and status["partial"] is True and "partial" in status["message"]


def test_on_log_appends_metrics_with_tokens_per_s_and_eta(reporter: Reporter) -> None:
    callback = RunCallback(reporter)
    args, control = SimpleNamespace(), SimpleNamespace(should_training_stop=False)
    callback.on_train_begin(args, SimpleNamespace(max_steps=10, global_step=0, epoch=0.0), control)
    callback.train_start = time.time() - 2.0  # two seconds into training
    state = SimpleNamespace(max_steps=10, global_step=2, epoch=0.5)
    callback.on_log(args, state, control, logs={"loss": 1.5, "learning_rate": 1e-3, "num_tokens": 1000,
                                                 "mean_token_accuracy": 0.61234})
    callback.on_log(args, state, control, logs={"eval_loss": 1.25})
    callback.on_log(args, state, control, logs={"train_runtime": 9.0})  # the trainer's summary: not a metric

    train, held_out = train_status.read_metrics(reporter.run_dir)
    assert train["step"] == 2 and train["epoch"] == 0.5 and train["loss"] == 1.5 and train["learning_rate"] == 1e-3
    assert 400 < train["tokens_per_s"] <= 500  # 1000 tokens in a little over 2 s
    assert 7.0 < train["eta_s"] < 9.0  # 8 steps left at about 1 s each
    assert train["token_accuracy"] == 0.6123
    assert held_out["eval_loss"] == 1.25 and "loss" not in held_out
    assert len(train_status.read_metrics(reporter.run_dir)) == 2
    assert callback.first_loss == 1.5 and callback.last_eval_loss == 1.25 and callback.recent_loss() == 1.5
    status = read_json(reporter.run_dir / "status.json")
    assert status is not None and status["step"] == 2 and status["progress"] == 0.2 and status["loss"] == 1.5


def test_on_step_end_stops_training_once_a_cancel_is_requested(reporter: Reporter) -> None:
    callback = RunCallback(reporter)
    control = SimpleNamespace(should_training_stop=False)
    state = SimpleNamespace(max_steps=10, global_step=3, epoch=0.3)
    callback.on_step_end(SimpleNamespace(), state, control)
    assert control.should_training_stop is False and not callback.stopped
    train_status.request_cancel(reporter.run_dir)
    callback.on_step_end(SimpleNamespace(), state, control)
    assert control.should_training_stop is True and callback.stopped
