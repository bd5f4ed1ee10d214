"""The per-index refusal threshold: cohort statistics, the band around min_score, old indexes."""

from __future__ import annotations

import numpy as np
import pytest

from airbot.knowledge import refusal


def test_threshold_is_clamped_around_min_score_and_falls_back_without_calibration() -> None:
    entry = {"method": refusal.METHOD, "threshold": 0.33}
    assert refusal.threshold(entry, 0.4) == pytest.approx(0.33)
    assert refusal.threshold({**entry, "threshold": 0.05}, 0.4) == pytest.approx(0.4 - refusal.BELOW)
    assert refusal.threshold({**entry, "threshold": 0.9}, 0.4) == pytest.approx(0.4 + refusal.ABOVE)
    assert refusal.threshold(None, 0.4) == 0.4  # an index written before calibration
    assert refusal.threshold({"method": "something-newer", "threshold": 0.2}, 0.4) == 0.4
    assert refusal.threshold({"method": refusal.METHOD, "threshold": "bad"}, 0.4) == 0.4


def test_calibrate_is_mean_plus_k_std_of_the_cohorts_best_scores() -> None:
    """Mechanics only (a stand-in embedder): the entry records what the threshold came from."""
    best = np.linspace(0.0, 0.2, len(refusal.COHORT))
    entry = refusal.calibrate("stand-in", lambda texts: np.eye(len(texts), dtype=np.float32), lambda q: best)
    assert entry is not None and entry["method"] == refusal.METHOD and entry["cohort"] == len(refusal.COHORT)
    assert entry["threshold"] == pytest.approx(best.mean() + refusal.K * best.std(), abs=1e-3)
    assert refusal.calibrate("stand-in", lambda texts: np.eye(len(texts)), lambda q: np.zeros(0)) is None


def test_describe_says_the_threshold_and_where_it_came_from() -> None:
    """The Data tab's and ``airbot index``'s line: calibrated (and clamped) vs the global fallback."""
    entry = {"method": refusal.METHOD, "mean": 0.088, "std": 0.0533, "k": refusal.K, "threshold": 0.3331}
    assert refusal.describe(entry, 0.4, 22) == \
        "refuses below 0.33 (calibrated on this index: off-topic questions score 0.09 ± 0.05)"
    low = refusal.describe({**entry, "threshold": 0.2}, 0.4, 22)
    assert low.startswith("refuses below 0.30 (calibrated") and "0.20, raised to the floor rag.min_score − 0.10" in low
    assert "0.90, lowered to the cap rag.min_score + 0.05" in refusal.describe({**entry, "threshold": 0.9}, 0.4)
    assert refusal.describe(None, 0.4, 22) == ("refuses below 0.40 (the global rag.min_score: this index has no "
                                               "calibration yet; its next change adds one)")
    assert refusal.describe(None, 0.4, 0) == "refuses every question: the index has no documents"


def test_verdict_shows_the_best_match_against_the_threshold() -> None:
    assert refusal.verdict(0.5216, 0.3331) == "best match 0.52 ≥ 0.33 → answered"
    assert refusal.verdict(0.21, 0.3331) == "best match 0.21 < 0.33 → refused: not in your documents"
    assert refusal.verdict(0.3329, 0.3331) == "best match 0.3329 < 0.3331 → refused: not in your documents"
    assert refusal.verdict(0.52, 0.33, top=0.52) == "best match 0.52 ≥ 0.33 → answered"
    assert refusal.verdict(0.38, 0.41, top=0.61) == ("best match 0.38 (names the documents use left out of the question)"
                                                     " < 0.41 → refused: not in your documents")
