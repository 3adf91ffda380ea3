"""Bind: which value goes to which input of a technique. Pure functions of a rule, a dropped
file's type and the technique's schema (:class:`~floradrop.flora.models.Technique`), no I/O.

:func:`plan_inputs` is the plan the upload stage follows for a job (and ``run --dry-run`` checks
with, :mod:`floradrop.pipeline.verdict`); :func:`validate_rules` runs the same planning for every
rule at start and in ``floradrop check``, so a required input that cannot be bound is a config
error then, not a failed (and paid) run later.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Final

from floradrop.config import Binding, FolderConfig, Rule
from floradrop.errors import ConfigError
from floradrop.flora.models import (
    AUDIO,
    DOCUMENT,
    IMAGE,
    RUN_INPUT_TYPES,
    TEXT,
    VIDEO,
    IOSpec,
    Technique,
)
from floradrop.pipeline.decide import EXTENSIONS, LINK_EXTENSIONS, media_type

_NOUN: Final[Mapping[str | None, str]] = {
    IMAGE: "an image",
    VIDEO: "a video",
    AUDIO: "an audio file",
    TEXT: "text",
    DOCUMENT: "a document",
    None: "a file of unknown type",
}


@dataclass(frozen=True)
class BoundInput:
    """One technique input and where its value comes from.

    For text inputs the binding is normalised: ``file`` becomes ``text`` (the dropped file's
    content), so a text input's binding is ``text``, ``literal``, ``path`` or ``sidecar``.
    """

    input: IOSpec
    binding: Binding


@dataclass(frozen=True)
class InputPlan:
    inputs: tuple[BoundInput, ...]
    sidecar_suffixes: tuple[str, ...]  # the sidecars this plan reads (".txt": photo.txt)


_FILE: Final = Binding(kind="file")
_TEXT: Final = Binding(kind="text")


class _Planner:
    """Binds one rule's inputs for one type of dropped file, or raises a ConfigError."""

    def __init__(self, technique: Technique, rule: Rule, dropped: str | None, where: str) -> None:
        self.technique, self.rule, self.dropped = technique, rule, dropped
        self.where = where

    def fail(self, problem: str, fix: str, spec: IOSpec | None = None) -> ConfigError:
        subject = f"technique {self.rule.technique!r}"
        if spec is not None:
            subject += f" input {spec.id!r} ({_noun(spec.type, article=False)})"
        return ConfigError(f"{self.where}: {subject}: {problem}", hint=fix)

    def plan(self) -> InputPlan:
        bound: dict[str, Binding] = {}
        for input_id, binding in self.rule.inputs.items():
            spec = self.technique.input(input_id)
            if spec is None:
                raise self._unknown_input(input_id)
            bound[input_id] = self.fit(spec, binding)
        if not any(b.kind in ("file", "text") for b in bound.values()):
            target = self.default_target(bound)
            if target is not None:
                bound[target.id] = _TEXT if target.type == TEXT else _FILE
        uses_file = any(b.kind in ("file", "text") for b in bound.values())
        for spec in self.technique.inputs:
            if spec.id not in bound and not spec.optional:
                raise self._unbound(spec, uses_file=uses_file)
        if not uses_file:
            raise self._file_unused()
        order = [spec for spec in self.technique.inputs if spec.id in bound]
        plan = tuple(BoundInput(spec, bound[spec.id]) for spec in order)
        suffixes = tuple(
            dict.fromkeys(b.binding.value or "" for b in plan if b.binding.kind == "sidecar")
        )
        return InputPlan(plan, suffixes)

    def fit(self, spec: IOSpec, binding: Binding) -> Binding:
        """Check that ``binding`` can fill ``spec``; the normalised binding."""
        if spec.type not in RUN_INPUT_TYPES:
            raise self.fail(
                "FLORA runs take only text, image and video inputs",
                "remove this binding: floradrop cannot fill it",
                spec,
            )
        kind = binding.kind
        if spec.type == TEXT:
            if kind in ("file", "text"):
                if self.dropped not in (TEXT, None):
                    raise self.fail(
                        "a text input cannot take the dropped file, which is "
                        + _noun(self.dropped),
                        'give it text another way: "sidecar" (photo.txt next to photo.png), '
                        '"literal:..." or "path:~/prompt.txt"',
                        spec,
                    )
                return _TEXT
            if kind == "literal":
                return binding
            if kind == "path":
                return self._fit_file(spec, binding, PurePath(binding.value or ""))
            return self._fit_file(spec, binding, PurePath("x" + (binding.value or "")))
        if kind == "file":
            if self.dropped != spec.type:
                raise self.fail(
                    f"takes {_noun(spec.type)}, but the dropped file is {_noun(self.dropped)}",
                    f"drop {_noun(spec.type)} here, or narrow the rule's `match` to "
                    f"{_examples(spec.type)}",
                    spec,
                )
            return binding
        if kind in ("text", "literal"):
            raise self.fail(
                f"takes {_noun(spec.type)}, not text",
                '"file" binds the dropped file and "path:~/reference.png" a fixed one; text goes '
                "to text inputs",
                spec,
            )
        if kind == "path":
            return self._fit_file(spec, binding, PurePath(binding.value or ""))
        return self._fit_file(spec, binding, PurePath("x" + (binding.value or "")))

    def _fit_file(self, spec: IOSpec, binding: Binding, file: PurePath) -> Binding:
        """A ``path`` or ``sidecar`` binding: the file's extension must suit the input."""
        found = media_type(file)
        what = (
            f"the file {binding.value}" if binding.kind == "path" else f"a {binding.value} sidecar"
        )
        if spec.type == TEXT:
            if found not in (TEXT, None):
                raise self.fail(
                    f"is a text input, but {what} is {_noun(found)}",
                    f"bind a text file ({_examples(TEXT)}) instead",
                    spec,
                )
        elif found != spec.type:
            raise self.fail(
                f"takes {_noun(spec.type)}, but {what} is {_noun(found)}",
                f"bind {_noun(spec.type)} ({_examples(spec.type)}) instead",
                spec,
            )
        return binding

    def default_target(self, bound: Mapping[str, Binding]) -> IOSpec | None:
        """The one input the dropped file goes to when no binding names it."""
        if self.dropped is None:
            return None
        if self.dropped not in RUN_INPUT_TYPES:
            raise self.fail(
                f"FLORA runs cannot take {_noun(self.dropped)} as input (only text, images "
                "and videos)",
                f"narrow the rule's `match` to files it can take, e.g. {_examples(IMAGE)}",
            )
        free = [s for s in self.technique.inputs if s.type == self.dropped and s.id not in bound]
        pool = [s for s in free if not s.optional] or free
        if len(pool) > 1:
            ids = ", ".join(repr(s.id) for s in pool)
            raise self.fail(
                f"has several {_noun(self.dropped, article=False)} inputs ({ids}), so floradrop "
                "cannot tell which one the dropped file is for",
                f'name it in the rule\'s `inputs`, e.g. inputs = {{ {pool[0].id} = "file", '
                f'{pool[1].id} = "path:~/reference{_example_ext(self.dropped)}" }}',
            )
        return pool[0] if pool else None

    def _unknown_input(self, input_id: str) -> ConfigError:
        ids = [s.id for s in self.technique.inputs]
        close = difflib.get_close_matches(input_id, ids, n=1)
        fix = f"did you mean {close[0]!r}?" if close else "bind only the technique's own inputs"
        listing = ", ".join(
            f"{s.id!r} ({_noun(s.type, article=False)})" for s in self.technique.inputs
        )
        return ConfigError(
            f"{self.where}.inputs.{input_id}: technique {self.rule.technique!r} has no input "
            f"{input_id!r}; its inputs are {listing or 'none'}",
            hint=fix,
        )

    def _unbound(self, spec: IOSpec, *, uses_file: bool) -> ConfigError:
        if spec.type not in RUN_INPUT_TYPES:
            return self.fail(
                "is required, but FLORA runs take only text, image and video inputs",
                "this technique cannot be run through the API; choose another technique",
                spec,
            )
        if not uses_file and spec.type != TEXT:
            return self.fail(
                f"takes {_noun(spec.type)}, but the dropped file is {_noun(self.dropped)}",
                f"narrow the rule's `match` to {_examples(spec.type)}, or bind this input to a "
                f'fixed file: {spec.id} = "path:~/reference{_example_ext(spec.type)}"',
                spec,
            )
        wrong_kind = self.dropped != spec.type and spec.type in (IMAGE, VIDEO)
        if uses_file and wrong_kind and not self._meant_for_dropped():
            # The file went to another (optional) input, the technique's own media input
            # wants another kind of file, and no rule was written for this kind: the file is
            # wrong, not the bindings (a fixed file would be sent with every drop).
            return self.fail(
                f"is required, but the dropped file is {_noun(self.dropped)}",
                f"drop {_noun(spec.type)} ({_examples(spec.type)}) into this folder; for other "
                "files, set the folder's `match` (or add a rule) with a technique that takes "
                "them",
                spec,
            )
        if spec.type == TEXT:
            example = (
                f'{spec.id} = "sidecar" (photo.txt next to photo.png) or {spec.id} = "literal:..."'
            )
        else:
            example = f'{spec.id} = "path:~/reference{_example_ext(spec.type)}"'
        return self.fail(
            f"is required, and nothing is bound to it (the dropped file is {_noun(self.dropped)})",
            f"bind it in the rule's `inputs`, e.g. {example}",
            spec,
        )

    def _meant_for_dropped(self) -> bool:
        """The rule's ``match`` names the dropped file's kind (``*.txt`` for a text file)."""
        pinned = (_pinned_extension(p) for p in self.rule.match)
        return any(e and media_type(PurePath("x" + e)) == self.dropped for e in pinned)

    def _file_unused(self) -> ConfigError:
        inputs = ", ".join(
            f"{s.id!r} ({_noun(s.type, article=False)})" for s in self.technique.inputs
        )
        if self.dropped is None:
            problem = "floradrop cannot tell what kind of file the dropped file is"
            fix = (
                f"narrow the rule's `match` to known types, e.g. {_examples(IMAGE)}; to read "
                'any file as text, bind it with "text"'
            )
        else:
            problem = f"no input takes the dropped file, which is {_noun(self.dropped)}"
            fix = f'bind it with "file" to one of the technique\'s inputs: {inputs or "none"}'
        return self.fail(problem, fix)


def plan_inputs(
    technique: Technique, rule: Rule, dropped_type: str | None, *, where: str | None = None
) -> InputPlan:
    """Which value goes to which input of ``technique`` for a dropped file of ``dropped_type``.

    ``rule.inputs`` are used as written; the dropped file goes to the one input of its type
    that nothing else fills (a required one first) unless a binding already uses it; optional
    inputs without a binding are left out. Raises :class:`ConfigError` (naming ``where``, the
    technique and the input) when a required input stays unbound, a binding names an unknown
    input or does not fit it, the dropped file would go nowhere or to one of several inputs.
    """
    label = where or f"the rule for {', '.join(rule.match)}"
    return _Planner(technique, rule, dropped_type, label).plan()


def validate_rules(
    folder: FolderConfig, techniques: Mapping[str, Technique], *, key: str | None = None
) -> list[ConfigError]:
    """Every problem with the folder's rules against the techniques' schemas.

    ``techniques`` maps each technique slug or id the caller knows to its schema; a rule's
    technique missing from it is reported as not existing (with the closest known name).
    Each rule is planned for every file type its ``match`` admits (by extension); a rule that
    matches any name (``*``) is planned for the type of the technique's main input.
    ``key`` is the folder's key path for messages (``folders[0]``).
    """
    key = key or f"folder {folder.name!r}"
    errors: list[ConfigError] = []
    for rule, rule_key in zip(folder.effective_rules(), folder.rule_keys(key), strict=True):
        technique = techniques.get(rule.technique)
        if technique is None:
            close = difflib.get_close_matches(rule.technique, list(techniques), n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            errors.append(
                ConfigError(
                    f"{rule_key}.technique: technique {rule.technique!r} does not exist{guess}",
                    hint="`floradrop techniques list` lists the techniques you can run",
                )
            )
            continue
        seen: set[str] = set()
        for dropped in _admitted_types(rule, technique, links=folder.links):
            try:
                plan_inputs(technique, rule, dropped, where=rule_key)
            except ConfigError as exc:
                if exc.message not in seen:
                    seen.add(exc.message)
                    errors.append(exc)
    return errors


def _admitted_types(rule: Rule, technique: Technique, *, links: bool) -> list[str | None]:
    types: dict[str | None, None] = {}
    for pattern in rule.match:
        extension = _pinned_extension(pattern)
        if extension is None or (links and extension.lower() in LINK_EXTENSIONS):
            types[main_input_type(technique)] = None
        else:
            types[media_type(PurePath("x" + extension))] = None
    return list(types)


def main_input_type(technique: Technique) -> str | None:
    """The type a dropped file most likely has for ``technique``: that of its first required
    image or video input, else text if it takes text, else its first input's type."""
    required = technique.required_inputs
    for spec in required:
        if spec.type in (IMAGE, VIDEO):
            return spec.type
    for spec in (*required, *technique.inputs):
        if spec.type == TEXT:
            return TEXT
    return technique.inputs[0].type if technique.inputs else None


def _pinned_extension(pattern: str) -> str | None:
    """``*.png`` -> ``.png``; None when the pattern does not fix the extension (``*``, ``a.*``)."""
    name = pattern.rsplit("/", 1)[-1]
    _, dot, extension = name.rpartition(".")
    if not dot or not extension or any(c in extension for c in "*?["):
        return None
    return "." + extension


def _noun(media: str | None, *, article: bool = True) -> str:
    text = _NOUN.get(media, f"a {media} file")
    if article:
        return text
    return text.split(" ", 1)[1] if text.startswith(("a ", "an ")) else text


def _examples(media: str) -> str:
    names = [f"*.{ext}" for ext, kind in EXTENSIONS.items() if kind == media][:3]
    return "[" + ", ".join(f'"{n}"' for n in names) + "]"


def _example_ext(media: str) -> str:
    return next((f".{ext}" for ext, kind in EXTENSIONS.items() if kind == media), "")


def problem_lines(problems: Iterable[ConfigError]) -> str:
    """Several problems as one text for one :class:`ConfigError`: each on its own indented
    line, followed by its own fix (a combined error must not lose them)."""
    lines = []
    for problem in problems:
        lines.append(f"  {problem.message}")
        if problem.hint:
            lines.append(f"    fix: {problem.hint}")
    return "\n".join(lines)


def techniques_needed(folders: Iterable[FolderConfig]) -> tuple[str, ...]:
    """Every technique slug or id the folders' rules name, once, in order."""
    return tuple(dict.fromkeys(r.technique for f in folders for r in f.effective_rules()))
