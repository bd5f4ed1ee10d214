"""Did it learn? (``airbot.train.learned``): every training question asked again and judged strictly against
its own answer. Checked on the real embedded SmolLM2-135M: a reference the model says word for word is found by
one forward pass (no decoding) and judged right; any other reference is decoded and judged by
``airbot.text.judge``, exactly as decoding every row would; the report's line, the amber advice under 80%, and
``runs show`` / the Train tab showing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airbot.config import ChatConfig
from airbot.prompts import with_system
from airbot.train.learned import (
    LEARNED_FILE,
    advice,
    ask_again,
    judge_reply,
    learned_enough,
    learned_line,
    reproduces_exactly,
    tally,
)

QUESTION = "What is the capital of France?"


def _row(question: str, answer: str) -> list[dict[str, str]]:
    return with_system([{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
                       ChatConfig().system_prompt)


@pytest.fixture(scope="module")
def base() -> tuple[object, object]:
    from airbot.models import load_causal_lm, load_tokenizer

    return load_causal_lm(device="cpu"), load_tokenizer()


def test_what_the_model_says_word_for_word_is_found_without_decoding(base: tuple) -> None:
    from airbot.train.probe import greedy_replies

    model, tok = base
    said = greedy_replies(model, tok, [_row(QUESTION, "")[:-1]], max_new_tokens=60)[0]
    rows = [_row(QUESTION, said), _row(QUESTION, "The capital of France is Lyon, 465 km from Paris.")]
    assert reproduces_exactly(model, tok, rows, max_length=256) == [True, False]
    assert reproduces_exactly(model, tok, rows[:1], max_length=20) == [False]  # cut by max_length: never exact

    asked = ask_again(model, tok, rows, ["line 1", "line 2"], max_new_tokens=60)
    assert [a.right for a in asked] == [True, False] and asked[0].answer == said
    assert asked[1].answer == said  # decoded: the model's own answer, judged against the reference
    assert "missing fact: 465 km" in asked[1].flags


def test_the_yardstick_is_the_strict_one() -> None:
    reference = "A day pass costs EUR 25 and gives you a desk from 9 am to 5 pm."
    assert judge_reply("How much is a day pass?", reference, "A day pass is EUR 25, desk 9 am to 5 pm.").correct
    wrong = judge_reply("How much is a day pass?", reference, "A day pass costs EUR 25.")
    assert not wrong.correct and "missing fact: 9" in wrong.flags
    invented = judge_reply("How much is a day pass?", reference, "A day pass costs EUR 25 from 9 am to 5 pm, or EUR 30.")
    assert invented.flags == ["invented figure: 30"]
    # a reference that itself says "of up to" three times is not a loop when said word for word; saying more is
    bags = "2 bags of up to 23 kg, 1 cabin bag of up to 7 kg, or 3 bags of up to 30 kg."
    assert judge_reply("Bags?", bags, bags).correct
    flags = judge_reply("Bags?", bags, f"{bags} 3 bags of up to 30 kg.").flags
    assert len(flags) == 1 and flags[0].startswith("loop:") and "repeated 3 times" in flags[0]


def test_the_line_and_the_amber_advice() -> None:
    from airbot.train.learned import Asked

    def report(right: int, total: int) -> dict:
        asked = [Asked(f"line {i}", f"q{i}", "r", "a", i < right, [] if i < right else ["missing fact: 3"])
                 for i in range(total)]
        return {"trained": tally(asked), "heldout": tally([]), "well": 0.8}

    good, poor = report(137, 139), report(12, 31)
    assert learned_line(good) == "answers its training questions right: 137/139"
    assert learned_enough(good) and advice(good) is None and len(good["trained"]["misses"]) == 2
    assert learned_enough(poor) is False and "more epochs" in (advice(poor) or "")
    assert "duplicate" in (advice(poor) or "")
    assert learned_line(None) is None and learned_enough(None) is None and advice(None) is None


def test_runs_show_and_the_train_tab_say_it(fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airbot.cli import main
    from airbot.train.learned import Asked
    from airbot.ui.train_tab import progress_html
    from tests._fake_runs import fake_run

    run_dir = fake_run("poor", 1.0, phase="done", method="qlora")
    misses = [Asked("line 2", "How much is delivery?", "Delivery costs $3.", "Delivery is $5.", False,
                    ["missing fact: $3", "invented figure: 5"])]
    report = {"trained": tally([*misses, Asked("line 1", "q", "r", "r", True, [])]), "heldout": tally([]), "well": 0.8}
    (run_dir / LEARNED_FILE).write_text(json.dumps(report))
    assert main(["runs", "show", "poor"]) == 0
    out = capsys.readouterr()
    shown = json.loads(out.out)["learned"]
    assert shown["line"] == "answers its training questions right: 1/2" and shown["enough"] is False
    assert "answers its training questions right: 1/2" in out.err and "missed line 2" in out.err
    assert "WARNING" in out.err and "more epochs" in out.err

    page = progress_html({"name": "poor", "phase": "done"}, report)
    assert "Answers its training questions right: 1/2" in page and "learned warn" in page and "⚠️" in page
    assert "line 2" in page and "invented figure: 5" in page
    report["trained"] = tally([Asked("line 1", "q", "r", "r", True, [])])
    assert "learned ok" in progress_html({"name": "good", "phase": "done"}, report)
