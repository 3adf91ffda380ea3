"""What installing or removing the login service does, as data.

A backend never touches the system while it decides: ``plan_install`` / ``plan_uninstall``
read the current files (and, for systemd and launchd, ask the service manager read-only
questions) and return a :class:`ServicePlan`, an ordered list of steps. ``--print`` renders
the plan; ``install`` / ``uninstall`` carry it out with :func:`apply` and return it, so a
person sees exactly what was done. A plan with no steps means there is nothing to do.
"""

from __future__ import annotations

import os
import shlex
import textwrap
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from floradrop.errors import FloradropError
from floradrop.paths import ensure_private_dir
from floradrop.service.commands import CommandRunner, ServiceError, check

HKCU = "HKEY_CURRENT_USER"


@dataclass(frozen=True)
class PlannedFile:
    """A file install writes: its absolute path, its whole content and its mode."""

    path: Path
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class RegistryValue:
    """A string value under ``HKEY_CURRENT_USER`` (Windows)."""

    key: str
    name: str
    data: str

    @property
    def where(self) -> str:
        return f"{HKCU}\\{self.key}\\{self.name}"


@dataclass(frozen=True)
class WriteFile:
    file: PlannedFile


@dataclass(frozen=True)
class RemoveFile:
    path: Path


@dataclass(frozen=True)
class MakeDir:
    path: Path


@dataclass(frozen=True)
class RunCommand:
    argv: tuple[str, ...]


@dataclass(frozen=True)
class SetRegistryValue:
    value: RegistryValue


@dataclass(frozen=True)
class DeleteRegistryValue:
    key: str
    name: str


Step = WriteFile | RemoveFile | MakeDir | RunCommand | SetRegistryValue | DeleteRegistryValue


@dataclass(frozen=True)
class ServicePlan:
    """The steps of an install or uninstall, in order, and what to tell the person after."""

    kind: str
    action: Literal["install", "uninstall"]
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[PlannedFile, ...]:
        return tuple(s.file for s in self.steps if isinstance(s, WriteFile))

    @property
    def removed(self) -> tuple[Path, ...]:
        return tuple(s.path for s in self.steps if isinstance(s, RemoveFile))

    @property
    def commands(self) -> tuple[tuple[str, ...], ...]:
        return tuple(s.argv for s in self.steps if isinstance(s, RunCommand))

    @property
    def empty(self) -> bool:
        return not self.steps


@dataclass(frozen=True)
class ServiceStatus:
    """Whether floradrop starts at login this way, and whether it runs now.

    ``enabled`` and ``running`` are ``None`` when they cannot be known; ``detail`` says why,
    quoting the service manager's own words.
    """

    kind: str
    title: str
    installed: bool
    enabled: bool | None
    running: bool | None
    files: tuple[Path, ...] = ()
    log_hint: str = ""
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = [str(p) for p in self.files]
        return data


class RegistryLike(Protocol):
    """String values under ``HKEY_CURRENT_USER``: ``winreg`` on Windows, a dict in tests."""

    def read(self, key: str, name: str) -> str | bytes | None: ...

    def write(self, key: str, name: str, data: str) -> None: ...

    def delete(self, key: str, name: str) -> None: ...


class ServiceBackend(Protocol):
    """One way of starting ``floradrop run`` at login (XDG autostart, systemd, launchd, Run key).

    Constructors only remember their arguments; nothing is read, written or run before one of
    these methods is called.
    """

    name: str
    title: str
    location: str  # where install writes, for a person: a path or a registry value

    def is_installed(self) -> bool:
        """Cheap: does the file (or registry value) install writes exist? Runs nothing."""
        ...

    def plan_install(self) -> ServicePlan: ...

    def install(self) -> ServicePlan:
        """Carry out :meth:`plan_install`; an empty plan means it was already installed."""
        ...

    def plan_uninstall(self) -> ServicePlan: ...

    def uninstall(self) -> ServicePlan:
        """Carry out :meth:`plan_uninstall`: remove exactly what install created."""
        ...

    def status(self) -> ServiceStatus: ...


def apply(
    plan: ServicePlan,
    *,
    runner: CommandRunner,
    registry: RegistryLike | None = None,
) -> ServicePlan:
    """Carry out ``plan`` step by step; stop at the first failure and raise it.

    The error then also says which steps were already done, so nothing is left unexplained.
    """
    done: list[Step] = []
    try:
        for step in plan.steps:
            _apply_step(step, runner=runner, registry=registry)
            done.append(step)
    except FloradropError as exc:
        if done:
            finished = render(ServicePlan(plan.kind, plan.action, tuple(done)), done=True)
            exc.message += (
                f"\nAlready done before this failure:\n{textwrap.indent(finished, '  ')}\n"
                f"Running 'floradrop service {plan.action}' again after fixing this finishes "
                "the job."
            )
        raise
    return plan


def _apply_step(step: Step, *, runner: CommandRunner, registry: RegistryLike | None) -> None:
    match step:
        case WriteFile(file):
            write_file(file)
        case RemoveFile(path):
            with _os_errors(f"remove {path}"):
                path.unlink(missing_ok=True)
        case MakeDir(path):
            with _os_errors(f"create the folder {path}"):
                ensure_private_dir(path)
        case RunCommand(argv):
            check(runner(argv))
        case SetRegistryValue(value):
            with _os_errors(f"set {value.where}"):
                _need(registry).write(value.key, value.name, value.data)
        case DeleteRegistryValue(key, name):
            with _os_errors(f"delete {HKCU}\\{key}\\{name}"):
                _need(registry).delete(key, name)


def write_file(file: PlannedFile) -> None:
    """Write ``file`` atomically (temporary file + rename), creating its folder."""

    with _os_errors(f"write {file.path}"):
        file.path.parent.mkdir(parents=True, exist_ok=True)
        temp = file.path.with_name(f".{file.path.name}.tmp")
        with temp.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(file.content)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(file.mode)
        temp.replace(file.path)


def read_text(path: Path) -> str | None:
    """The current content of ``path``, or ``None`` if there is no such file."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServiceError(
            f"cannot read {path}: {exc}",
            hint="check that file's permissions, or move it away and try again",
        ) from exc


def refuse_conflict(other: ServiceBackend | None) -> None:
    """Refuse to add a second login entry next to another kind that is installed.

    Both would start a daemon at login and the second would stop at once (one daemon per
    state directory), so switching kinds is an explicit uninstall first.
    """
    if other is not None and other.is_installed():
        raise ServiceError(
            f"floradrop already starts at login through another entry: {other.title}, "
            f"at {other.location}.",
            hint="run 'floradrop service uninstall' first, then install again",
        )


@contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """Turn an OSError inside the block into a :class:`ServiceError` naming ``what``."""
    try:
        yield
    except OSError as exc:
        raise ServiceError(
            f"could not {what}: {exc.strerror or exc}",
            hint="check the permissions of that location and try again",
        ) from exc


def _need(registry: RegistryLike | None) -> RegistryLike:
    if registry is None:
        raise ServiceError("this plan changes the Windows registry, but no registry was given.")
    return registry


def render(plan: ServicePlan, *, done: bool, show_content: bool = False) -> str:
    """The plan for a person: past tense once carried out, future tense for ``--print``."""
    lines: list[str] = []
    for step in plan.steps:
        lines.extend(_render_step(step, done=done, show_content=show_content))
    lines.extend(f"Note: {note}" for note in plan.notes)
    return "\n".join(lines)


def _render_step(step: Step, *, done: bool, show_content: bool) -> Iterable[str]:
    def verb(past: str, future: str) -> str:
        return past if done else f"would {future}"

    match step:
        case WriteFile(file):
            yield f"{verb('wrote', 'write')} {file.path} (mode {file.mode:04o})"
            if show_content:
                yield from (f"    | {line}" for line in file.content.splitlines())
        case RemoveFile(path):
            yield f"{verb('removed', 'remove')} {path}"
        case MakeDir(path):
            yield f"{verb('created', 'create')} the folder {path}"
        case RunCommand(argv):
            yield f"{verb('ran', 'run')}: {shlex.join(argv)}"
        case SetRegistryValue(value):
            yield f"{verb('set', 'set')} {value.where} = {value.data}"
        case DeleteRegistryValue(key, name):
            yield f"{verb('deleted', 'delete')} {HKCU}\\{key}\\{name}"
