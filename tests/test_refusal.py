"""The per-index refusal threshold: cohort statistics, the band around min_score, old indexes."""

from __future__ import annotations

import numpy as np
import pytest

from airbot import refusal


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
