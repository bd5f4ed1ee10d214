"""Spaces reads the README's front matter; airbot deploys with space.yaml: they must agree."""

from pathlib import Path

import pytest
import yaml

from airbot import hosting

ROOT = Path(__file__).resolve().parents[1]


def _front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "README.md must start with Spaces front matter"
    return yaml.safe_load(text.split("---\n")[1])


def test_front_matter_and_space_yaml_agree() -> None:
    space = yaml.safe_load((ROOT / "space.yaml").read_text())
    front = _front_matter()
    settings = {k: v for k, v in space.items() if k != "variables"}
    assert front == settings


def test_sdk_version_is_the_pinned_gradio() -> None:
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert str(_front_matter()["sdk_version"]) == pins["gradio"]
    assert (ROOT / _front_matter()["app_file"]).is_file()


def test_sharing_and_login_are_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRBOT_AUTH", raising=False)
    assert hosting.auth_from_settings() is None
    monkeypatch.setenv("AIRBOT_AUTH", "ana:secret,bo:pw:with:colons")
    assert hosting.auth_from_settings() == [("ana", "secret"), ("bo", "pw:with:colons")]
    from airbot.cli import build_parser

    assert build_parser().parse_args(["app"]).share is False


def test_gpu_task_is_a_no_op_off_zero_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)

    def work() -> int:
        return 7

    assert hosting.gpu_task(work) is work
