"""``floradrop init``: set floradrop up, from the API key to a watched folder.

The steps, in order: take the API key and check it with FLORA (listing workspaces) before
keeping it (OS keyring, else a key file only the user can read); pick the workspace (the only
one without asking); pick a technique; propose a folder layout; write a commented config (or
add a folder to the existing one); create the folders; run ``floradrop check``; offer the
login service.

Interactive on a terminal; every question is also a flag, and ``--yes`` takes the defaults
without asking, so scripts (and the tests) drive it, e.g. against the emulator with
``FLORA_BASE_URL``. Without a terminal and without ``--yes`` nothing is guessed: an answer no
flag gives is an error naming the flag. What is written is built by :mod:`floradrop.onboarding`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from floradrop.cli._console import Console
from floradrop.cli._init_answers import (
    absolute,
    count_files,
    find_technique,
    folder_problem,
    nth,
    parse_bindings,
    read_key_file,
    technique_table,
)
from floradrop.errors import ConfigError, FloradropError

if TYPE_CHECKING:
    from floradrop.config import Config
    from floradrop.flora import FloraClient, Technique, Workspace
    from floradrop.onboarding import FolderLayout, FolderPlan

KEY_ATTEMPTS = 3
"""How often a key typed on the terminal may be rejected before init gives up."""

T = TypeVar("T")


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    del verb
    parser.add_argument(
        "--api-key-file",
        metavar="PATH",
        help="read the API key from this file ('-': standard input) instead of asking; it is "
        "checked with FLORA, then kept in the OS keyring or a key file only you can read",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="the FLORA API (default: the existing config's, else $FLORA_BASE_URL, else the "
        "real API)",
    )
    parser.add_argument("--workspace", metavar="WS_ID", help="the workspace to bill (ws_...)")
    parser.add_argument(
        "--technique", metavar="SLUG", help="the folder's technique: its slug or tech_ id"
    )
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="ID=BINDING",
        dest="inputs",
        help="bind a technique input as a folder's `inputs` do, e.g. prompt=sidecar or "
        "reference_image=path:~/ref.jpg (repeatable; only for techniques that need more than "
        "the dropped file)",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        metavar="PATH",
        help="the folder to watch (default: ~/FLORA/<technique name>/inbox, with outputs/, "
        "done/ and failed/ next to it)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="the config file to write, or to add a folder to (default: $FLORADROP_CONFIG, "
        "else the user config dir's floradrop/config.toml)",
    )
    parser.add_argument(
        "--no-keyring",
        action="store_true",
        help="keep the key in a file only you can read, even where an OS keyring exists",
    )
    parser.add_argument(
        "--service",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start floradrop at login, or not, without asking (default: ask; with --yes: "
        "not unless --service)",
    )
    parser.add_argument(
        "--headless",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the login service runs without a tray icon (on Linux: a systemd user service); "
        "default: headless where there is no display, else with the tray",
    )
    parser.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="never ask: take the defaults; an answer without a default must come from its flag",
    )


def run(args: argparse.Namespace) -> int:
    from floradrop import logs

    logs.quiet_logging()
    interactive = not args.yes and args.api_key_file != "-" and sys.stdin.isatty()
    return Init(args, Console(interactive=interactive, accept_defaults=args.yes)).run()


@dataclass
class Key:
    value: str = field(repr=False)
    source: str  # for messages: "FLORA_API_KEY", "the OS keyring", a file, ...
    store: bool  # new to floradrop: keep it once FLORA has accepted it
    typed: bool = False


class Init:
    """One run of ``floradrop init`` (the steps are in the module docstring)."""

    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        from floradrop.config import config_path

        self.args = args
        self.console = console
        self.path = config_path(args.config)
        self.existing: Config | None = None
        self.existing_bytes: bytes | None = None
        self.base_url = ""
        self.key_location = ""

    def run(self) -> int:
        from floradrop.config import parse_config

        base = self._read_existing() or parse_config({})
        if self.existing is not None:
            self.console.say(f"Adding a folder to {self.path}; what is in it stays as it is.")
        self.base_url = self._base_url(base)
        key, client, workspaces = self._connect(base)
        with client:
            workspace = self._workspace(workspaces)
            technique, handle = self._technique(client, workspace.workspace_id)
        layout = self._layout(technique, handle)
        plan = self._plan(layout, handle, technique, workspace)
        self._store(key, base)  # only now: a run of init that stops earlier stores nothing
        self._write(self._text(plan, workspace), layout)
        code = self._check()
        if code != 0:
            return code
        self._service()
        self._summary(plan)
        return 0

    # -- the existing config and the API address ---------------------------------------------

    def _read_existing(self) -> Config | None:
        from floradrop.config import load_config

        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: cannot be read ({exc.strerror})",
                hint="check its permissions, or write another file with --config",
            ) from None
        try:
            self.existing = load_config(self.path)
        except ConfigError as exc:
            exc.hint = (
                "init adds a folder only to a valid config: fix this one first (`floradrop "
                "check` lists the problems), or write another file with --config"
            )
            raise
        self.existing_bytes = data
        return self.existing

    def _base_url(self, base: Config) -> str:
        from floradrop.flora.endpoint import Endpoint

        configured = base.flora.base_url
        if self.args.base_url is None:
            return configured
        wanted = Endpoint.resolve(None, self.args.base_url).base_url
        if self.existing is not None and wanted != configured:
            raise ConfigError(
                f"{self.path} uses the API at {configured}, not {wanted}; init adds folders to "
                "a config but does not change its [flora] settings",
                hint="edit base_url in that file yourself, or write a new config with --config",
            )
        return wanted

    # -- the key -----------------------------------------------------------------------------

    def _connect(self, base: Config) -> tuple[Key, FloraClient, list[Workspace]]:
        """A key FLORA accepts, a client using it, and the key's workspaces."""
        from floradrop.flora import AuthenticationError, FloraClient, PermissionDeniedError

        key = self._key(base)
        attempt = 1
        while True:
            self.console.say(f"Checking the key with {self.base_url} ...")
            client = FloraClient(key.value, base_url=self.base_url, max_retries=2)
            try:
                workspaces = client.list_workspaces()
                break
            except (AuthenticationError, PermissionDeniedError) as exc:
                client.close()
                if not (self.console.interactive and key.typed and attempt < KEY_ATTEMPTS):
                    raise type(exc)(
                        f"FLORA did not accept the API key from {key.source}"
                        f"{f' ({exc.status_code})' if exc.status_code else ''}; it was not stored",
                        hint="copy the key again from the FLORA app (or create a new one), then "
                        "run `floradrop init` again",
                        status_code=exc.status_code,
                        code=exc.code,
                        request_id=exc.request_id,
                    ) from None
                self.console.say("FLORA did not accept that key; please paste it again.")
                attempt += 1
                key = self._ask_key()
            except BaseException:
                client.close()
                raise
        if not workspaces:
            client.close()
            raise ConfigError(
                "the API key works but sees no workspace to bill runs to",
                hint="create the key in the FLORA workspace that should pay for the runs",
            )
        self.console.say(f"The key works: it sees {len(workspaces)} workspace(s).")
        return key, client, workspaces

    def _key(self, base: Config) -> Key:
        from floradrop.apikey import resolve_api_key

        if self.args.api_key_file:
            name = self.args.api_key_file
            where = "standard input" if name == "-" else name
            return Key(read_key_file(name), where, store=True)
        known = resolve_api_key(
            base_url=self.base_url,
            key_file=base.flora.api_key_file,
            state_dir=base.daemon.state_dir,
        )
        if known is not None:
            from_env = known.source == "FLORA_API_KEY"
            where = "the FLORA_API_KEY variable" if from_env else known.source
            if self.console.confirm(
                f"Use the API key from {where}?",
                what=f"whether to use the key from {where}",
                flag="--api-key-file PATH",
                default=True,
            ):
                self.console.say(f"Using the API key from {where}.")
                # A key from the environment is stored too: the login service will not see it.
                return Key(known.value, where, store=from_env)
        return self._ask_key()

    def _ask_key(self) -> Key:
        value = self.console.secret(
            "FLORA API key (from the FLORA app; what you type is not shown)",
            what="the API key",
            flag="--api-key-file PATH (or --api-key-file - to read it from standard input)",
        )
        return Key(value, "what you typed", store=True, typed=True)

    def _store(self, key: Key, base: Config) -> None:
        from floradrop.apikey import store_api_key

        if not key.store:
            self.key_location = key.source
            return
        configured = base.flora.api_key_file
        if configured is not None:
            raise ConfigError(
                f"{self.path} reads the key from api_key_file = {configured}, so a key kept "
                "anywhere else would not be used; the key was not stored",
                hint=f"put the key in {configured} yourself, then run `floradrop init` again",
            )
        self.key_location = store_api_key(
            key.value,
            base_url=self.base_url,
            state_dir=base.daemon.state_dir,
            use_keyring=not self.args.no_keyring,
        )
        if self.key_location == "the OS keyring":
            self.console.say("Stored the API key in the OS keyring.")
        else:
            self.console.say(
                f"Stored the API key in {self.key_location}, a file only you can read "
                f"({'--no-keyring' if self.args.no_keyring else 'no OS keyring is available'})."
            )

    # -- workspace and technique -------------------------------------------------------------

    def _workspace(self, workspaces: Sequence[Workspace]) -> Workspace:
        by_id = {w.workspace_id: w for w in workspaces}
        listing = ", ".join(f"{w.workspace_id} ({w.name})" for w in workspaces)
        configured = self.existing.flora.workspace_id if self.existing else None
        if configured and self.args.workspace and self.args.workspace != configured:
            raise ConfigError(
                f"{self.path} bills workspace {configured}, not {self.args.workspace}; init "
                "adds folders to a config but does not change its [flora] settings",
                hint="edit workspace_id in that file yourself, or write a new config with --config",
            )
        wanted = self.args.workspace or configured
        if wanted:
            if wanted not in by_id:
                raise ConfigError(
                    f"workspace {wanted} is not one this key can use: {listing}",
                    hint="pass one of those with --workspace",
                )
            chosen = by_id[wanted]
            note = ""
        elif len(workspaces) == 1:
            chosen, note = workspaces[0], ", the only one"
        else:
            if self.console.interactive:
                self.console.say("Workspaces this key can use:")
                for n, w in enumerate(workspaces, 1):
                    self.console.say(f"  {n:>2}. {w.name} ({w.workspace_id})")
            chosen = self._pick(
                "Workspace to bill (number or ws_ id)",
                what="the workspace",
                flag=f"--workspace WS_ID (one of: {listing})",
                choose=lambda a: by_id.get(a) or nth(workspaces, a),
            )
            note = ""
        self.console.say(f"Workspace: {chosen.name} ({chosen.workspace_id}){note}.")
        return chosen

    def _technique(self, client: FloraClient, workspace_id: str) -> tuple[Technique, str]:
        """The technique (with its full schema) and what the config calls it."""
        from floradrop.onboarding import format_cost

        listed: list[Technique] = []
        if not self.args.technique:
            listed = client.list_techniques(workspace_id=workspace_id)
            if not listed:
                raise ConfigError(
                    "FLORA lists no techniques for this workspace",
                    hint="create or publish a technique in FLORA first",
                )
            if self.console.interactive:
                self.console.say(technique_table(listed))
        if self.args.technique:
            found = find_technique(client, self.args.technique, listed)
            if found is None:
                raise ConfigError(
                    f"--technique {self.args.technique}: FLORA has no such technique",
                    hint="`floradrop techniques list` shows the ones this key can run",
                )
            handle = found
        else:
            handle = self._pick(
                "Technique for this folder (number, slug or id)",
                what="the technique",
                flag="--technique SLUG (`floradrop techniques list` shows them)",
                choose=lambda a: find_technique(client, a, listed),
            )
        technique = client.get_technique(handle)
        self.console.say(
            f"Technique: {technique.name} ({handle}), {format_cost(technique.run_cost)} a run."
        )
        return technique, handle

    def _pick(self, question: str, *, what: str, flag: str, choose: Callable[[str], T | None]) -> T:
        while True:
            answer = self.console.ask(question, what=what, flag=flag)
            chosen = choose(answer)
            if chosen is not None:
                return chosen
            self.console.say(f"{answer!r} is not one of the choices.")

    # -- the folder and the config text ------------------------------------------------------

    def _layout(self, technique: Technique, handle: str) -> FolderLayout:
        from floradrop import onboarding

        taken = self.existing.folders if self.existing else ()
        default = onboarding.default_layout(technique, handle)
        proposal = None
        if onboarding.find_folder(taken, default.inbox) is None:
            proposal = onboarding.display_path(default.inbox)
        while True:
            if self.args.folder is not None:
                answer = str(self.args.folder)
            else:
                answer = self.console.ask(
                    "Folder to watch (outputs/, done/ and failed/ go next to it)",
                    what="the folder to watch",
                    flag="--folder PATH",
                    default=proposal,
                )
            layout = onboarding.FolderLayout.around(absolute(answer))
            problem = folder_problem(layout, taken, self.path)
            if problem is None:
                return layout
            if not self.console.interactive or self.args.folder is not None:
                raise ConfigError(problem, hint="choose another folder with --folder PATH")
            self.console.say(problem)

    def _plan(
        self, layout: FolderLayout, handle: str, technique: Technique, workspace: Workspace
    ) -> FolderPlan:
        """The new folder, checked in the config it will be part of; asks for the input
        bindings the technique needs beyond the dropped file."""
        from floradrop import onboarding
        from floradrop.config import InvalidConfigError
        from floradrop.pipeline import bind

        inputs = dict(parse_bindings(self.args.inputs))
        while True:
            plan = onboarding.FolderPlan(layout, handle, technique, dict(inputs))
            try:
                config = onboarding.candidate_config(self._text(plan, workspace), self.path)
            except InvalidConfigError as exc:
                if not self._another_binding(inputs, [exc]):
                    raise
                continue
            folder = onboarding.find_folder(config.folders, layout.inbox)
            if folder is None:
                raise ConfigError(
                    f"{layout.inbox} would be read back from the config as another path "
                    "(a $ in a path is read as an environment variable)",
                    hint="choose a folder whose path has no $ in it, with --folder",
                )
            problems = bind.validate_rules(folder, {handle: technique}, key="the new folder")
            if not problems:
                return plan
            if not self._another_binding(inputs, problems):
                raise ConfigError(
                    "the technique needs more than the dropped file, so nothing was written:\n"
                    + "\n".join(
                        f"  - {p.message}" + (f" ({p.hint})" if p.hint else "") for p in problems
                    ),
                    hint="bind its other inputs with --input ID=BINDING (written as in a "
                    "folder's `inputs`), e.g. --input reference_image=path:~/reference.png",
                )

    def _text(self, plan: FolderPlan, workspace: Workspace) -> str:
        """The whole config text: a new file, or the existing text with the folder added."""
        from floradrop import onboarding

        if self.existing_bytes is None:
            return onboarding.new_config_text(
                plan,
                base_url=self.base_url,
                workspace_id=workspace.workspace_id,
                workspace_name=workspace.name,
                key_location=self.key_location or "the OS keyring or a private key file",
            )
        text = onboarding.add_folder_text(self.existing_bytes.decode("utf-8-sig"), plan)
        if self.existing is not None and not self.existing.flora.workspace_id:
            text = onboarding.add_workspace_text(text, workspace.workspace_id, workspace.name)
        return text

    def _another_binding(self, inputs: dict[str, str], problems: Iterable[FloradropError]) -> bool:
        """Show ``problems`` and ask for a binding to add; False when there is no terminal."""
        if not self.console.interactive:
            return False
        for problem in problems:
            self.console.say(problem.describe())
        while True:
            answer = self.console.ask(
                "Bind an input as ID=BINDING (e.g. prompt=sidecar or "
                "reference_image=path:~/ref.jpg)",
                what="an input binding",
                flag="--input ID=BINDING",
            )
            try:
                ((input_id, binding),) = parse_bindings([answer])
            except FloradropError as exc:
                self.console.say(exc.describe())
                continue
            inputs[input_id] = binding
            return True

    # -- writing, checking, the login service -------------------------------------------------

    def _write(self, text: str, layout: FolderLayout) -> None:
        from floradrop import onboarding

        waiting = count_files(layout.inbox)
        made = onboarding.make_folders(layout)
        onboarding.write_config_file(self.path, text, expected=self.existing_bytes)
        verb = "Added the folder to" if self.existing_bytes is not None else "Wrote the config"
        self.console.say(f"{verb} {self.path}")
        if made:
            self.console.say("Created " + ", ".join(str(p) for p in made))
        if waiting:
            self.console.say(
                f"Note: {layout.inbox} already holds {waiting} file(s). floradrop processes "
                "them when it starts, each as a paid run; move them out first if you do not "
                "want that."
            )

    def _check(self) -> int:
        from floradrop.cli import check_cmd

        self.console.say("\nChecking the config (`floradrop check`):")
        try:
            return check_cmd.run(argparse.Namespace(config=self.path))
        except FloradropError as exc:
            print(exc.describe(), file=sys.stderr)
            print(
                f"The config is written ({self.path}); fix the problem above, then run "
                "`floradrop check` again.",
                file=sys.stderr,
            )
            return int(exc.exit_code)

    def _service(self) -> None:
        from floradrop.service import backend_for, render

        headless, why = self.args.headless, ""
        if headless is None:  # a tray entry could never show without a display
            from floradrop.tray.backend import no_display_reason

            why = no_display_reason(os.environ) or ""
            headless = bool(why)
        retry = "floradrop service install" + (" --headless" if headless else "")
        retry += f" --config {shlex.quote(str(self.path))}"
        want = self.args.service
        if want is None:
            kind = " as a headless service (no display here, so no tray icon)" if why else ""
            want = self.console.confirm(
                f"\nStart floradrop at login{kind}?",
                what="whether to start floradrop at login",
                flag="--service or --no-service",
                default=self.console.interactive,  # --yes installs nothing it was not asked to
            )
        if not want:
            self.console.say(f"Not starting at login. To do it later: {retry}")
            return
        try:
            backend = backend_for(headless=headless, config_file=self.path)
            plan = backend.install()
        except (FloradropError, OSError) as exc:
            text = exc.describe() if isinstance(exc, FloradropError) else str(exc)
            self.console.say(
                f"Could not set up the login service:\n{text}\n"
                f"Everything else is set up. To try again: {retry}"
            )
            return
        if plan.empty:
            self.console.say(f"floradrop already starts at login ({backend.title}).")
        else:
            self.console.say(f"floradrop now starts at login: {backend.title}.")
            self.console.say(render(plan, done=True))

    def _summary(self, plan: FolderPlan) -> None:
        layout = plan.layout
        self.console.say(
            f"\nDone. Drop files into {layout.inbox}\n"
            f"  outputs:   {layout.outputs}\n"
            f"  originals: {layout.done} (failed ones in {layout.failed}, with a report)\n"
            "Start floradrop now with `floradrop run`; one that is running already picks up "
            "the new folder by itself. `floradrop status` shows what it is doing."
        )
