"""How configuration problems are raised inside validators and shown to a person.

Validators raise :func:`invalid` (one problem) or :func:`invalid_many` (several, each with its
own key path). Both are pydantic custom errors that carry the problem, the bad value and the
fix in their context, so the loader can turn a whole :class:`~pydantic.ValidationError` into one
:class:`InvalidConfigError` whose every line reads
``<file>: <key path>: <problem> (got <value>). <fix>`` (organize's ``errors.py`` is the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from pydantic_core import PydanticCustomError

from floradrop.errors import ConfigError

ERROR_TYPE: Final = "floradrop"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
"""Marks "no value to show" (a missing key, or a problem about a whole table)."""


class ProblemSpec(TypedDict):
    at: tuple[str | int, ...]  # the key path below the validated object
    message: str
    value: Any  # UNSET: show none
    fix: str | None


def spec(
    message: str,
    *,
    fix: str | None = None,
    value: Any = UNSET,
    at: tuple[str | int, ...] = (),
) -> ProblemSpec:
    return {"at": at, "message": message, "value": value, "fix": fix}


def invalid(
    message: str,
    *,
    fix: str | None = None,
    value: Any = UNSET,
    at: tuple[str | int, ...] = (),
) -> PydanticCustomError:
    """One problem, for ``raise invalid(...)`` inside a validator."""
    return invalid_many([spec(message, fix=fix, value=value, at=at)])


def invalid_many(problems: Sequence[ProblemSpec]) -> PydanticCustomError:
    """Several problems found by one (model) validator, each with its own key path."""
    summary = "; ".join(p["message"] for p in problems)
    return PydanticCustomError(
        ERROR_TYPE, "{message}", {"message": summary, "problems": list(problems)}
    )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, ready to show."""

    source: str  # the file, or "environment variable FLORADROP_..."
    key: str  # "folders[1].inputs.prompt"; "" for the file as a whole
    message: str  # "is not a known key"
    value: str | None  # the bad value, rendered and redacted; None: nothing to show
    fix: str | None  # "Did you mean `settle_seconds`?"

    def __str__(self) -> str:
        text = (
            f"{self.source}: {self.key}: {self.message}"
            if self.key
            else f"{self.source}: {self.message}"
        )
        if self.value is not None:
            text += f" (got {self.value})"
        text = text.rstrip(".") + "."
        if self.fix:
            fix = self.fix[0].upper() + self.fix[1:]
            text += " " + (fix if fix.endswith((".", "?", "!")) else fix + ".")
        return text


class InvalidConfigError(ConfigError):
    """The configuration has one or more problems; :attr:`problems` lists them all."""

    def __init__(self, problems: Sequence[Problem], *, hint: str | None = None) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = str(self.problems[0])
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{len(self.problems)} problems in the configuration:\n{lines}"
        if hint is None and all(p.source.startswith("environment variable") for p in problems):
            hint = "Fix or unset the environment variable(s) above, then start floradrop again."
        super().__init__(
            message,
            hint=hint
            or "Fix the setting(s) above and save the file; a running floradrop reloads it "
            "by itself. `floradrop check` checks it again.",
        )
