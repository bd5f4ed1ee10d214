"""The whole flow a new user walks, in Debian's Chromium, with a screenshot of every tab:
airline sample -> short training watched to the end -> index -> both panes answer -> vote -> guide."""

from __future__ import annotations

import io
import re

import pytest

pytestmark = pytest.mark.e2e
TRAIN_TIMEOUT_MS = 900_000


def _line_pixels(png: bytes) -> int:
    """Pixels in Vega's first series colour (#4c78a8): the train-loss line, not axes or grid."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(1 for r, g, b in image.getdata() if abs(r - 76) < 40 and abs(g - 120) < 40 and abs(b - 168) < 40)


def test_new_user_walks_the_whole_flow(page, screenshot) -> None:
    page.locator("#data-sample").click()
    page.locator("#data-status").get_by_text("rows, ready to train", exact=False).wait_for()
    page.locator("#kb-sample").click()
    page.locator("#kb-status").get_by_text("airline_policy.md", exact=False).wait_for()
    screenshot(page, "flow_1_data")

    page.get_by_role("tab", name="Train").click()
    page.get_by_label("LoRA", exact=True).check()
    page.get_by_text("Advanced").click()
    page.get_by_label("Max steps (-1 = all epochs)").fill("6")
    page.get_by_label("Max length (tokens)").fill("128")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile(r": (loading model|tokenizing|training)")).first.wait_for()
    chart = page.locator("#train-loss")
    page.get_by_text(re.compile(r"step [1-4]/6")).first.wait_for(timeout=TRAIN_TIMEOUT_MS)
    chart.locator("canvas, svg.marks").first.wait_for()  # the first losses are drawn while training runs
    early = chart.screenshot()
    page.get_by_text(re.compile(r": done")).first.wait_for(timeout=TRAIN_TIMEOUT_MS)
    page.get_by_text(re.compile(r"step 6/6")).first.wait_for()
    page.wait_for_timeout(1500)  # the next timer tick redraws the chart with the last steps
    done = chart.screenshot()
    assert done != early, "the loss chart did not change between mid-training and done"
    assert _line_pixels(done) > 100, "the loss chart has axes but no line"
    screenshot(page, "flow_2_train")

    page.get_by_role("tab", name="Chat").click()
    page.get_by_role("button", name="↻ Refresh runs and indexes").click()
    page.locator("#chat-prompt textarea").fill("How much does it cost to bring a cat in the cabin?")
    page.get_by_role("button", name="Ask both").click()
    page.locator("#stats-finetuned").get_by_text("tok/s", exact=False).wait_for(timeout=180_000)
    page.locator("#stats-rag").get_by_text("tok/s", exact=False).wait_for(timeout=180_000)
    page.locator("#sources-rag").get_by_text("airline_policy.md", exact=False).first.wait_for()
    page.get_by_role("button", name="👉 RAG better").click()
    page.get_by_text("Recorded:", exact=False).wait_for()
    screenshot(page, "flow_3_chat")

    page.get_by_role("tab", name="Evaluate").click()
    screenshot(page, "flow_4_evaluate")

    page.get_by_role("tab", name="Decision guide").click()
    page.get_by_label("Start from a use case").click()
    page.get_by_role("option", name="Customer support with evolving KB").click()
    page.get_by_role("button", name="Recommend").click()
    page.locator("#guide-verdict").get_by_text("Recommendation: RAG", exact=False).wait_for()
    screenshot(page, "flow_5_guide")
