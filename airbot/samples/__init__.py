"""The shipped example data: a fictional airline's conditions of carriage and the Q&A sets around it,
plus two domain-free sets every user's evaluation may use: general out-of-scope questions and the
general-knowledge probe.

The files double as the template for a user's own data, so callers look them up by role
(``sample_path("train")``) instead of hard-coding file names, and no code may depend on the
fictional airline's wording. Rebuild the PDFs after editing a policy with
``python -m airbot.samples.build_pdfs``.
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR: Path = Path(__file__).parent

SAMPLE_FILES: dict[str, str] = {
    "train": "airline_train.jsonl",
    "heldout": "airline_heldout.jsonl",
    "policy": "airline_policy.md",
    "policy_pdf": "airline_policy.pdf",
    "policy_v2": "airline_policy_v2.md",
    "policy_v2_pdf": "airline_policy_v2.pdf",
    "changes": "policy_changes.jsonl",
    "out_of_scope": "out_of_scope.jsonl",
    "general_out_of_scope": "general_out_of_scope.jsonl",
    "probe": "general_probe.jsonl",
}
"""Role -> file name. Roles are the stable interface; file names may change."""


def sample_path(name: str) -> Path:
    """Path of a shipped sample, given its role ("train") or its file name ("airline_train.jsonl").

    Raises FileNotFoundError naming the known roles, so a typo fails at the call site rather
    than as an empty dataset later.
    """
    file_name = SAMPLE_FILES.get(name, name)
    if file_name not in SAMPLE_FILES.values():
        known = ", ".join(sorted(SAMPLE_FILES))
        raise FileNotFoundError(f"No sample called {name!r}. Known samples: {known}.")
    path = SAMPLES_DIR / file_name
    if not path.is_file():
        hint = " Run `python -m airbot.samples.build_pdfs`." if path.suffix == ".pdf" else ""
        raise FileNotFoundError(f"Sample {name!r} is missing from {SAMPLES_DIR}.{hint}")
    return path
