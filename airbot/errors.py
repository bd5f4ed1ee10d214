"""Errors written for the person who made the mistake.

Every failure a user can cause (a bad file, a missing run, a model that cannot be
downloaded) is raised as an ``AirbotError`` whose text says what, where and how to fix
it. The CLI prints it as one line and exits 2; the UI shows it as ``gr.Error``.
"""

from __future__ import annotations


class AirbotError(Exception):
    """A problem the user can fix; ``str(err)`` is the whole message."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        super().__init__(message)

    @classmethod
    def collected(cls, header: str, problems: list[str], hint: str = "") -> AirbotError:
        """One error for many problems, so the user fixes them all in one go."""
        lines = [header] + [f"  - {p}" for p in problems]
        if hint:
            lines.append(hint)
        return cls("\n".join(lines), problems)


class ConfigError(AirbotError):
    """A recipe or override that cannot be used."""


class DataError(AirbotError):
    """A training or evaluation file that cannot be used."""


class DocumentError(AirbotError):
    """A policy document that cannot be read or indexed."""


class ModelError(AirbotError):
    """A model that cannot be found, downloaded or loaded."""


class JobError(AirbotError):
    """A training job that cannot start, or a run that does not exist."""
