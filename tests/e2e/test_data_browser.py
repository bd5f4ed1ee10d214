"""The Data tab in a real browser: upload a messy file, see every problem; upload a good one,
see the report, the rows and the highlighted answer tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def _good_file(tmp_path: Path) -> Path:
    rows = [{"question": f"How do I reset setting number {i} on my router?",
             "answer": f"Open the admin page, choose setting {i} and press Reset; it takes about a minute."}
            for i in range(1, 36)]
    path = tmp_path / "router_faq.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_upload_shows_problems_then_report_rows_and_trained_tokens(page, tmp_path: Path, screenshot) -> None:
    bad = tmp_path / "messy.csv"
    bad.write_text("question,answer\nWhere is my order?,\n")
    page.set_input_files("#data-upload input[type=file]", str(bad))
    status = page.locator("#data-status")
    status.get_by_text("row 1 (line 2), field 'answer'", exact=False).wait_for()
    assert "messy.csv" in status.inner_text()
    screenshot(page, "data_tab_error", full_page=False)
    page.locator(".toast-close").first.click()  # the error pop-up; the status box keeps the message

    page.set_input_files("#data-upload input[type=file]", str(_good_file(tmp_path)))
    status.get_by_text("35 rows, ready to train").wait_for()
    report = page.locator("#data-report")
    report.get_by_text("Quality report").wait_for()
    assert "Tokens per conversation" in report.inner_text()
    table = page.locator("#data-table")
    table.get_by_text("How do I reset setting number 1 on", exact=False).first.wait_for()
    trained = page.locator("#data-rendered").get_by_text("Open the admin page, choose setting 1", exact=False)
    trained.first.wait_for()
    table.get_by_text("How do I reset setting number 3 on", exact=False).first.click()
    rendered = page.locator("#data-rendered")
    rendered.get_by_text("Open the admin page, choose setting 3", exact=False).first.wait_for()
    page.locator("#data-status").scroll_into_view_if_needed()
    shot = screenshot(page, "data_tab")
    assert shot.stat().st_size > 10_000
