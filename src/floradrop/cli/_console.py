"""Asking a person, or not: the questions ``floradrop init`` asks, as one small object.

On a terminal each question is asked (a secret without echo). Without one, or with ``--yes``,
nothing is asked: ``--yes`` takes each question's default, and a question without a default
(or any question without ``--yes``) is an :class:`AnswerError` naming the flag that answers it.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from floradrop.errors import ExitCode, FloradropError


class AnswerError(FloradropError):
    title = "floradrop init needs an answer"
    exit_code = ExitCode.USAGE


@dataclass
class Console:
    """Questions and answers. ``interactive``: asked on the terminal. Otherwise a default is
    taken when ``accept_defaults`` (``--yes``), and a missing answer is an error naming the
    flag that gives it."""

    interactive: bool
    accept_defaults: bool
    input: Callable[[str], str] = input
    getpass: Callable[[str], str] = getpass.getpass
    out: TextIO | None = None  # None: sys.stdout at the time of writing

    def say(self, text: str = "") -> None:
        print(text, file=self.out or sys.stdout, flush=True)

    def ask(self, question: str, *, what: str, flag: str, default: str | None = None) -> str:
        """The answer, stripped; the default for an empty one."""
        if not self.interactive:
            return self._default(what, flag, default)
        suffix = f" [{default}]" if default else ""
        while True:
            answer = self._read(self.input, f"{question}{suffix}: ", what).strip()
            if answer or default is not None:
                return answer or default or ""

    def confirm(self, question: str, *, what: str, flag: str, default: bool) -> bool:
        if not self.interactive:
            return self._default(what, flag, "yes" if default else "no") == "yes"
        choices = "Y/n" if default else "y/N"
        while True:
            answer = self._read(self.input, f"{question} [{choices}]: ", what).strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes", "n", "no"):
                return answer.startswith("y")
            self.say("Please answer y or n.")

    def secret(self, question: str, *, what: str, flag: str) -> str:
        """An answer typed without echo (never shown, never logged)."""
        if not self.interactive:
            return self._default(what, flag, None)
        while True:
            answer = self._read(self.getpass, f"{question}: ", what).strip()
            if answer:
                return answer

    def _default(self, what: str, flag: str, default: str | None) -> str:
        if default is not None and self.accept_defaults:
            return default
        hint = f"pass {flag}"
        if default is not None:
            hint += f", or --yes to accept the default ({default})"
        where = "" if self.accept_defaults else ", and there is no terminal to ask"
        raise AnswerError(f"{what} was not given{where}", hint=hint)

    @staticmethod
    def _read(reader: Callable[[str], str], prompt: str, what: str) -> str:
        try:
            return reader(prompt)
        except EOFError:
            raise AnswerError(
                f"the input ended before {what} was given", hint="run `floradrop init` again"
            ) from None
