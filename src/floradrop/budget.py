"""Budgets as hard limits: what may start, given what is spent and what is reserved.

A run's quoted cost is *reserved* in the journal, in the same transaction that moves its job
from ``waiting`` to ``uploading`` (:meth:`floradrop.journal.Journal.start_within_budget`), so
files arriving together, a queue resumed after a pause, a restart or several workers can never
start more than the budgets allow: each reservation sees every reservation made before it. A
reservation counts until FLORA reports the run's ``charged_cost`` (then the spend counts) or the
job ends without a run.

This module is the arithmetic, pure: no I/O, no clock. A run may start only if, for every
budget that applies to it (``daily_budget_usd`` for all folders, a folder's ``budget_usd``)::

    spent today + reserved + its cost <= the budget
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

EPSILON = 1e-9  # dollars: costs are sums of floats


@dataclass(frozen=True)
class Limit:
    """One budget: ``folder`` None is the daily budget of every folder together."""

    limit_usd: float
    folder: str | None = None
    key: str = "daily_budget_usd"  # the config key to raise, for the message
    name: str = ""  # the folder's display name

    @property
    def label(self) -> str:
        return f"{self.name}'s budget_usd" if self.folder is not None else self.key


@dataclass(frozen=True)
class Usage:
    """Money against one limit: charged today, and reserved by runs not yet charged."""

    spent: float = 0.0
    reserved: float = 0.0


@dataclass(frozen=True)
class Hold:
    """Why a run may not start: the first budget it would pass."""

    limit: Limit
    usage: Usage
    cost: float

    @property
    def message(self) -> str:
        reserved = f" + ${self.usage.reserved:.2f} reserved" if self.usage.reserved else ""
        return (
            f"waiting for budget: {self.limit.label} is ${self.limit.limit_usd:.2f}; "
            f"${self.usage.spent:.2f} spent today{reserved} + ${self.cost:.2f} for this run "
            "would pass it"
        )

    @property
    def hint(self) -> str:
        return f"raise {self.limit.label} in the config (applied at once), or wait until tomorrow"


def fits(cost: float, limit: Limit, usage: Usage) -> bool:
    return usage.spent + usage.reserved + cost <= limit.limit_usd + EPSILON


def first_hold(cost: float, usages: Sequence[tuple[Limit, Usage]]) -> Hold | None:
    """The first budget that ``cost`` would pass, or None: the run may start."""
    for limit, usage in usages:
        if not fits(cost, limit, usage):
            return Hold(limit, usage, cost)
    return None


def limits_for(
    folder: str,
    *,
    daily_usd: float | None,
    folder_usd: float | None,
    folder_name: str = "",
) -> list[Limit]:
    """Every budget that applies to a run of ``folder``."""
    limits = []
    if daily_usd is not None:
        limits.append(Limit(daily_usd))
    if folder_usd is not None:
        limits.append(Limit(folder_usd, folder, "budget_usd", folder_name or folder))
    return limits


def max_runs(budget_usd: float, cost: float) -> int:
    """How many runs of ``cost`` a budget of ``budget_usd`` allows: floor(budget / cost)."""
    if cost <= 0:
        raise ValueError("a run's cost must be positive")
    return math.floor((budget_usd + EPSILON) / cost)


@dataclass(frozen=True)
class Period:
    """A range of local days, both ends included (ISO dates compare as strings)."""

    name: str
    first: str
    last: str


def periods(day: date) -> list[Period]:
    """Today, this week (from Monday) and this month, for ``status``."""
    monday = day - timedelta(days=day.weekday())
    return [
        Period("today", day.isoformat(), day.isoformat()),
        Period("week", monday.isoformat(), day.isoformat()),
        Period("month", day.replace(day=1).isoformat(), day.isoformat()),
    ]
