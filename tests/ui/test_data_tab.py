"""The Data tab's events, through the real app over HTTP (gradio_client) and as plain functions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

from airbot.config import load_config
from airbot.samples import sample_path
from airbot.ui import data_tab
from airbot.ui.app import build_app
from airbot.ui.errors import user_errors
from tests._serving import free_port
from tests.data.test_dataset import BAD_FILES, make_bad_file


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """``build_app()`` served on a free port with an empty AIRBOT_HOME, and a client for it."""
    from gradio_client import Client

    home = tmp_path_factory.mktemp("ui-data") / "home"
    home.mkdir()
    (home / "models").symlink_to(Path(os.environ["AIRBOT_HOME"]) / "models", target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRBOT_HOME", str(home))
        port = free_port()
        demo = build_app()
        demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        try:
            yield Client(f"http://127.0.0.1:{port}/", verbose=False)
        finally:
            demo.close()


def test_data_check_returns_the_report_and_stores_the_file(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    report, status, *_ = client.predict(handle_file(str(sample_path("heldout"))), api_name="/data_check")
    assert report["rows"] == 50 and report["format"] == "qa" and report["extra_columns"] == ["clause", "facts"]
    assert report["file"] == "airline_heldout.jsonl" and report["dataset"] == "airline_heldout"
    assert "50 rows, ready to train" in status and "airline_heldout" in status
    _, stored = client.predict(api_name="/data_list")
    assert [d["name"] for d in stored] == ["airline_heldout"] and stored[0]["rows"] == 50
    table, info = client.predict("airline_heldout", 3, api_name="/data_preview")
    assert table["headers"][:3] == ["line", "question", "answer"] and table["data"][0][0] == 41 and "Page 3 of 3" in info


def test_data_check_of_a_bad_file_is_an_error_naming_the_row(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    path, expected = make_bad_file(tmp_path, "ragged CSV rows")
    with pytest.raises(Exception) as caught:
        client.predict(handle_file(str(path)), api_name="/data_check")
    assert all(fragment in str(caught.value) for fragment in expected)


def test_data_use_sample(client) -> None:
    report, status, *_ = client.predict(api_name="/data_use_sample")
    assert report["rows"] >= 30 and "airline-sample" in status


@pytest.fixture
def tab() -> data_tab.DataTab:
    return data_tab.DataTab(load_config())


def test_every_bad_file_is_a_gradio_error_with_its_message(tab: data_tab.DataTab, tmp_path: Path,
                                                           fresh_home: Path) -> None:
    check = user_errors(tab.check_upload)
    tab.config.data.max_tokens = 64
    for kind in BAD_FILES:
        path, expected = make_bad_file(tmp_path / kind.replace(" ", "_"), kind)
        with pytest.raises(gr.Error) as caught:
            check(str(path))
        assert all(fragment in caught.value.message for fragment in expected), (kind, caught.value.message)
    assert not list((fresh_home / "datasets").glob("*"))  # nothing half-stored


def test_failed_check_is_repeated_in_the_status_box(tab: data_tab.DataTab, tmp_path: Path) -> None:
    path, _ = make_bad_file(tmp_path, "empty field")
    request = type("Request", (), {"session_hash": "s1"})()
    with pytest.raises(gr.Error):
        user_errors(tab.check_upload)(str(path), request)
    shown = data_tab.last_error(request)
    assert shown.startswith("### ✗ blank.csv cannot be used") and "row 1 (line 2), field 'answer'" in shown
    assert data_tab.last_error(request) == ""


def test_rendered_row_highlights_only_the_answer(tab: data_tab.DataTab, fresh_home: Path) -> None:
    stored_view = tab.use_sample()
    pieces = stored_view[-1]
    trained = [text for text, label in pieces if label == data_tab.TRAINED]
    assert len(trained) == 1 and "<|im_end|>" in trained[0]
    assert all("<|im_start|>user" not in text for text in trained)


def test_kb_status_states_the_refusal_threshold(client) -> None:
    """The policy-documents panel says when the RAG bots refuse, calibrated on this index."""
    status, *_ = client.predict(api_name="/kb_use_sample")
    assert "airline_policy.md (v1)" in status
    line = status.splitlines()[-1]
    assert line.startswith("RAG refuses below 0.") and "(calibrated on this index: off-topic questions score" in line
