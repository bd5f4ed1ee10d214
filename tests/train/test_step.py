"""Thread choice for training: only the cores other work leaves free (spinning OpenMP threads
beside a busy process made a 2-core run 7x slower)."""

from __future__ import annotations

import pytest

from airbot.train.step import free_cores, pick_threads


@pytest.mark.parametrize(("cores", "load", "expected"), [
    (2, 0.0, 2), (2, 0.3, 2), (2, 0.6, 1), (2, 1.5, 1), (2, 9.0, 1), (8, 1.0, 7), (8, 0.2, 8), (1, 0.0, 1)])
def test_free_cores(cores: int, load: float, expected: int) -> None:
    assert free_cores(cores, load) == expected


def test_an_explicit_thread_count_wins() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        assert pick_threads(1) == 1
    finally:
        torch.set_num_threads(before)
