"""``floradrop init`` against the emulator: scripted, interactive (on a real pseudo-terminal),
re-run, rejected keys, the keyring, techniques that need more than the dropped file, and
the login service. Plus the text it writes (:mod:`floradrop.onboarding`)."""

from __future__ import annotations

import os
import select
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop import onboarding
from floradrop.apikey import KEY_FILE_NAME, resolve_api_key
from floradrop.cli import main
from floradrop.config import load_config
from floradrop.errors import ExitCode
from floradrop.flora import Technique
from floradrop.flora.models import IOSpec
from floradrop.onboarding import FolderLayout, FolderPlan
from tests.engine.harness import png_bytes

WRONG_KEY = "sk_test_not_the_right_one"


@pytest.fixture
def key_file(tmp_path: Path, emulator: Emulator) -> Path:
    path = tmp_path / "flora.key"
    path.write_text(emulator.api_key + "\n", encoding="utf-8")
    return path


@pytest.fixture
def api(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator, as FLORA_BASE_URL (how a person points init at it)."""
    monkeypatch.setenv("FLORA_BASE_URL", emulator.base_url)
    return emulator


def config_file(home: Path) -> Path:
    return home / ".config" / "floradrop" / "config.toml"


def state_dir(home: Path) -> Path:
    return home / ".local" / "state" / "floradrop"


def scripted(*extra: str) -> list[str]:
    return ["init", "--yes", "--no-service", "--no-keyring", *extra]


def test_scripted_init_writes_a_config_that_check_accepts_and_run_once_processes(
    api: Emulator,
    key_file: Path,
    tmp_path: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inbox = tmp_path / "in"
    code = main(
        scripted("--api-key-file", str(key_file), "--technique", "cctv-cam", "--folder", str(inbox))
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    path = config_file(isolated_home)
    config = load_config(path)
    (folder,) = config.folders
    assert folder.path == inbox and folder.technique == "cctv-cam"
    assert (folder.outputs, folder.done, folder.failed) == (
        tmp_path / "in-outputs",
        tmp_path / "in-done",
        tmp_path / "in-failed",
    )
    assert all(p.is_dir() for p in (inbox, folder.outputs, folder.done, folder.failed))
    assert config.flora.base_url == api.base_url  # not the default, so written down
    assert config.flora.workspace_id == api.workspace_id
    assert "Workspace: Emulator Workspace" in out and "the only one" in out
    assert "check passed" in out
    key_path = state_dir(isolated_home) / KEY_FILE_NAME
    assert f"Stored the API key in {key_path}" in out
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert api.api_key not in out + err + path.read_text("utf-8")

    assert main(["check"]) == 0  # the default config path, found without --config
    assert "check passed" in capsys.readouterr().out

    # The daemon, as the login service would start it: no FLORA_API_KEY, no FLORA_BASE_URL;
    # the key comes from the key file init wrote, the API address from the config.
    (inbox / "photo.png").write_bytes(png_bytes(3))
    env = {k: v for k, v in os.environ.items() if k not in ("FLORA_API_KEY", "FLORA_BASE_URL")}
    daemon = subprocess.run(
        [sys.executable, "-m", "floradrop", "run", "--once", "--headless", "--config", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert daemon.returncode == 0, daemon.stderr[-3000:]
    assert "1 done, 0 failed" in daemon.stderr
    assert (folder.outputs / "photo.cctv-cam.png").is_file()
    assert (folder.done / "photo.png").is_file()
    assert api.stats.runs_created == 1
    assert api.api_key not in daemon.stdout + daemon.stderr


def test_rerunning_adds_a_folder_keeps_the_first_and_refuses_the_same_folder_twice(
    api: Emulator,
    key_file: Path,
    tmp_path: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = tmp_path / "first"
    assert (
        main(
            scripted(
                "--api-key-file", str(key_file), "--technique", "cctv-cam", "--folder", str(first)
            )
        )
        == 0
    )
    path = config_file(isolated_home)
    edited = path.read_text("utf-8") + "\n# my own note: keep this\n"
    path.write_text(edited, encoding="utf-8")
    capsys.readouterr()

    # No key flag this time: the stored key is found and used (and not stored again).
    assert main(scripted("--technique", "palette-pull")) == 0
    out = capsys.readouterr().out
    assert f"Using the API key from {state_dir(isolated_home) / KEY_FILE_NAME}" in out
    assert "Stored the API key" not in out
    text = path.read_text("utf-8")
    assert text.startswith(edited), "the existing text, comments included, is kept as it was"
    config = load_config(path)
    assert [f.path for f in config.folders] == [
        first,
        isolated_home / "FLORA" / "Palette Pull" / "inbox",
    ]
    assert [f.technique for f in config.folders] == ["cctv-cam", "palette-pull"]
    second = config.folders[1]
    assert second.outputs == isolated_home / "FLORA" / "Palette Pull" / "outputs"
    assert 'path = "~/FLORA/Palette Pull/inbox"' in text  # home-relative, portable

    before = path.read_bytes()
    code = main(scripted("--technique", "sigil", "--folder", str(first)))
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG
    assert f"{first} is already watched" in err
    assert path.read_bytes() == before

    # The default folder of a technique that already has one is taken too: --yes cannot
    # choose for the person.
    code = main(scripted("--technique", "palette-pull"))
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "--folder" in err
    assert path.read_bytes() == before


def test_a_rejected_key_exits_4_and_nothing_is_stored_or_written(
    api: Emulator, tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text(WRONG_KEY, encoding="utf-8")
    code = main(scripted("--api-key-file", str(bad), "--technique", "cctv-cam"))
    out, err = capsys.readouterr()
    assert code == ExitCode.AUTH
    assert "did not accept the API key" in err and "it was not stored" in err
    assert WRONG_KEY not in out + err
    assert not (state_dir(isolated_home) / KEY_FILE_NAME).exists()
    assert not config_file(isolated_home).exists()
    assert not (isolated_home / "FLORA").exists()


def test_a_key_from_the_environment_is_used_stored_and_never_shown(
    api: Emulator,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLORA_API_KEY", api.api_key)
    assert main(scripted("--technique", "cctv-cam")) == 0
    out, err = capsys.readouterr()
    assert "Using the API key from the FLORA_API_KEY variable" in out
    key_path = state_dir(isolated_home) / KEY_FILE_NAME
    assert key_path.read_text("utf-8").strip() == api.api_key  # the login service needs it
    texts = [out, err, config_file(isolated_home).read_text("utf-8")]
    logs = state_dir(isolated_home) / "log"
    texts += [p.read_text("utf-8") for p in logs.rglob("*") if p.is_file()] if logs.exists() else []
    assert not [t for t in texts if api.api_key in t]


def test_the_key_can_come_from_standard_input(
    api: Emulator, isolated_home: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "floradrop",
            *scripted("--api-key-file", "-", "--technique", "sigil"),
        ],
        input=api.api_key + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Stored the API key in" in result.stdout
    assert api.api_key not in result.stdout + result.stderr
    assert (state_dir(isolated_home) / KEY_FILE_NAME).read_text("utf-8").strip() == api.api_key


def test_without_a_terminal_or_yes_missing_answers_name_their_flags(
    api: Emulator, key_file: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # pytest's stdin is not a terminal
    code = main(["init", "--api-key-file", str(key_file), "--no-keyring"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "the technique was not given, and there is no terminal to ask" in err
    assert "--technique" in err
    assert not config_file(isolated_home).exists()
    assert not state_dir(isolated_home).exists(), "init stopped early: the key is not stored"

    code = main(["init", "--api-key-file", str(key_file), "--technique", "cctv-cam"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "the folder to watch was not given" in err
    assert "--folder PATH, or --yes to accept the default (~/FLORA/CCTV Cam/inbox)" in err


def test_without_any_key_scripted_init_says_which_flag_gives_it(
    api: Emulator, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(scripted("--technique", "cctv-cam"))
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "the API key was not given" in err and "--api-key-file" in err


def test_a_technique_needing_more_than_the_dropped_file_takes_input_flags(
    api: Emulator,
    key_file: Path,
    tmp_path: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(scripted("--api-key-file", str(key_file), "--technique", "color-transfer"))
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG
    assert "needs more than the dropped file" in err and "--input" in err
    assert "source_image" in err and "reference_image" in err
    assert not config_file(isolated_home).exists()

    reference = tmp_path / "reference.png"
    reference.write_bytes(png_bytes(9))
    code = main(
        scripted(
            "--api-key-file",
            str(key_file),
            "--technique",
            "color-transfer",
            "--input",
            "source_image=file",
            "--input",
            f"reference_image=path:{reference}",
        )
    )
    assert code == 0, capsys.readouterr().err
    (folder,) = load_config(config_file(isolated_home)).folders
    assert {k: v.to_toml() for k, v in folder.inputs.items()} == {
        "source_image": "file",
        "reference_image": f"path:{reference}",
    }


def test_an_unknown_technique_or_workspace_is_a_clear_error(
    api: Emulator, key_file: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(scripted("--api-key-file", str(key_file), "--technique", "no-such-thing"))
    assert code == ExitCode.CONFIG
    assert "--technique no-such-thing: FLORA has no such technique" in capsys.readouterr().err
    code = main(
        scripted("--api-key-file", str(key_file), "--workspace", "ws_other", "--technique", "sigil")
    )
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG
    assert f"workspace ws_other is not one this key can use: {api.workspace_id}" in err


class MemoryKeyring:
    """A keyring backend that keeps passwords in memory (no OS keyring runs here)."""

    def __init__(self) -> None:
        from keyring.backend import KeyringBackend

        class Backend(KeyringBackend):
            priority = 1  # type: ignore[assignment]

            def __init__(self) -> None:
                super().__init__()
                self.store: dict[tuple[str, str], str] = {}

            def get_password(self, service: str, username: str) -> str | None:
                return self.store.get((service, username))

            def set_password(self, service: str, username: str, password: str) -> None:
                self.store[(service, username)] = password

            def delete_password(self, service: str, username: str) -> None:
                self.store.pop((service, username), None)

        self.backend = Backend()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    import keyring

    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring.backend)
    yield ring
    keyring.set_keyring(before)


def test_the_key_goes_to_the_os_keyring_when_there_is_one(
    api: Emulator,
    key_file: Path,
    isolated_home: Path,
    memory_keyring: MemoryKeyring,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["init", "--yes", "--no-service", "--api-key-file", str(key_file), "--technique", "sigil"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Stored the API key in the OS keyring." in out
    assert memory_keyring.backend.store == {("floradrop", api.base_url): api.api_key}
    assert not (state_dir(isolated_home) / KEY_FILE_NAME).exists()
    key = resolve_api_key(base_url=api.base_url, key_file=None, state_dir=state_dir(isolated_home))
    assert key is not None and key.source == "the OS keyring"
    assert "the OS keyring" in config_file(isolated_home).read_text("utf-8")


def test_the_login_service_is_installed_or_its_failure_reported(
    api: Emulator,
    key_file: Path,
    tmp_path: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    base = ["init", "--yes", "--no-keyring", "--technique", "cctv-cam"]
    entry = isolated_home / ".config" / "autostart" / "floradrop.desktop"
    # --yes installs no service it was not asked for, and says how to.
    code = main([*base, "--api-key-file", str(key_file), "--folder", str(tmp_path / "z")])
    out = capsys.readouterr().out
    assert code == 0 and not entry.exists()
    assert "Not starting at login. To do it later: floradrop service install --headless" in out

    code = main([*base, "--service", "--no-headless", "--folder", str(tmp_path / "a")])
    out = capsys.readouterr().out
    assert code == 0
    assert "floradrop now starts at login" in out and str(entry) in out
    assert f"--config {config_file(isolated_home)}" in entry.read_text("utf-8")

    # With no display, the service is the headless one (a tray entry could never show). It
    # needs a systemd user manager, which this machine does not have: init still succeeds and
    # says how to try again.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "no-runtime-dir"))
    other = tmp_path / "headless.toml"
    code = main([*base, "--service", "--config", str(other), "--folder", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert code == 0
    assert "Could not set up the login service" in out
    assert f"To try again: floradrop service install --headless --config {other}" in out
    assert load_config(other).folders[0].path == tmp_path / "b"


# -- interactive, on a real pseudo-terminal ---------------------------------------------------


class Terminal:
    """A child process on a pseudo-terminal that is its controlling terminal (so getpass
    turns echo off for real), driven like a person: wait for a prompt, type an answer."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import fcntl
        import termios

        def controlling_tty() -> None:  # in the child, after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=controlling_tty,  # noqa: PLW1509 - runs after setsid, before exec
        )
        os.close(slave)
        self.output = ""
        self._seen = 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.output += data.decode("utf-8", errors="replace")
        return True

    def expect(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output[self._seen :]:
            alive = self._read(0.1)
            if text in self.output[self._seen :]:
                break
            if not alive or time.monotonic() > deadline:
                raise AssertionError(f"never saw {text!r}; the terminal shows:\n{self.output}")
        end = self.output.index(text, self._seen) + len(text)
        seen, self._seen = self._seen, end
        return self.output[seen:end]

    def type(self, answer: str) -> None:
        os.write(self.master, answer.encode() + b"\r")

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self._read(0.1) and time.monotonic() < deadline:
            pass
        code = self.proc.wait(max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_interactive_init_on_a_terminal(api: Emulator, tmp_path: Path, isolated_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FLORA_API_KEY"}
    env["TERM"] = "dumb"
    env.pop("DISPLAY", None)  # no display: the headless service is what is offered
    env.pop("WAYLAND_DISPLAY", None)
    term = Terminal([sys.executable, "-m", "floradrop", "init", "--no-keyring"], env)
    try:
        term.expect("FLORA API key (from the FLORA app; what you type is not shown): ")
        term.type(WRONG_KEY)
        term.expect("FLORA did not accept that key; please paste it again.")
        term.expect("what you type is not shown): ")
        term.type(api.api_key)
        term.expect("The key works")
        table = term.expect("Technique for this folder (number, slug or id): ")
        assert "CCTV Cam" in table and "$0.05" in table and "input_image:imageUrl" in table
        assert "prompt:text?" in table  # optional inputs are marked
        assert "SLUG" in table and "SLUG/ID" not in table and "tech_" not in table
        assert "cctv-cam" in table  # the slug FLORA gives, not an opaque id
        term.type("99")
        term.expect("'99' is not one of the choices.")
        term.expect("Technique for this folder (number, slug or id): ")
        term.type("palette-pull")
        term.expect("Technique: Palette Pull")
        term.expect(
            "Folder to watch (outputs/, done/ and failed/ go next to it) "
            "[~/FLORA/Palette Pull/inbox]: "
        )
        term.type("")  # the proposed layout
        term.expect("check passed")
        # no display here: the login service offered is the headless one
        term.expect(
            "Start floradrop at login as a headless service (no display here, so no tray "
            "icon)? [Y/n]: "
        )
        term.type("n")
        term.expect("Done. Drop files into")
        code = term.finish()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait(10)
    assert code == 0, term.output
    assert api.api_key not in term.output, "the key was echoed"
    assert WRONG_KEY not in term.output
    config = load_config(config_file(isolated_home))
    (folder,) = config.folders
    assert folder.technique == "palette-pull"
    assert folder.path == isolated_home / "FLORA" / "Palette Pull" / "inbox"
    assert (state_dir(isolated_home) / KEY_FILE_NAME).read_text("utf-8").strip() == api.api_key
    assert not (isolated_home / ".config" / "autostart").exists()


def test_interactive_bindings_are_asked_for_until_the_technique_fits(
    api: Emulator, key_file: Path, tmp_path: Path, isolated_home: Path
) -> None:
    """The same conversation in-process, with the console's input and getpass replaced."""
    import argparse

    from floradrop.cli import build_parser
    from floradrop.cli._console import Console
    from floradrop.cli.init_cmd import Init

    answers = iter(
        [
            "",  # the folder: the proposal
            "reference_image=nonsense",  # not a binding: said so, asked again
            "source_image=file",
            f"reference_image=path:{tmp_path / 'ref.png'}",
            "n",  # no login service
        ]
    )
    prompts: list[str] = []

    def fake_input(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    def fake_getpass(prompt: str) -> str:
        raise AssertionError("the key came from --api-key-file; nothing to ask")

    (tmp_path / "ref.png").write_bytes(png_bytes(2))
    args: argparse.Namespace = build_parser().parse_args(
        ["init", "--api-key-file", str(key_file), "--no-keyring", "--technique", "color-transfer"]
    )
    console = Console(
        interactive=True, accept_defaults=False, input=fake_input, getpass=fake_getpass
    )
    assert Init(args, console).run() == 0
    assert next(answers, None) is None
    assert sum("Bind an input as ID=BINDING" in p for p in prompts) == 3
    (folder,) = load_config(config_file(isolated_home)).folders
    assert folder.path == isolated_home / "FLORA" / "Color Transfer" / "inbox"
    assert set(folder.inputs) == {"source_image", "reference_image"}


def test_several_workspaces_are_listed_and_one_must_be_chosen(tmp_path: Path) -> None:
    """The emulator has one workspace; a key with several is played by a list of them."""
    from floradrop.cli import build_parser
    from floradrop.cli._console import AnswerError, Console
    from floradrop.cli.init_cmd import Init
    from floradrop.flora import Workspace

    spaces = [Workspace("ws_a", "Studio A"), Workspace("ws_b", "Studio B")]

    def init(*flags: str, answers: list[str] | None = None) -> Init:
        replies = iter(answers or [])
        console = Console(
            interactive=answers is not None,
            accept_defaults="--yes" in flags,
            input=lambda prompt: next(replies),
        )
        return Init(build_parser().parse_args(["init", *flags]), console)

    with pytest.raises(AnswerError) as caught:
        init("--yes")._workspace(spaces)
    assert caught.value.hint is not None
    assert "--workspace WS_ID (one of: ws_a (Studio A), ws_b (Studio B))" in caught.value.hint
    assert init("--yes", "--workspace", "ws_b")._workspace(spaces).name == "Studio B"
    assert init(answers=["3", "ws_a"])._workspace(spaces).name == "Studio A"
    assert init(answers=["2"])._workspace(spaces).name == "Studio B"


# -- the text init writes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "C:\\Users\\me\\FLORA",
        'say "hi"',
        "it's",
        'it\'s "both" \\ and',
        "tab\there",
        "ünïcødé 写真",
        "line\nbreak\x7fdel\x01",
    ],
)
def test_toml_string_round_trips(value: str) -> None:
    assert tomllib.loads(f"x = {onboarding.toml_string(value)}")["x"] == value


def test_layout_next_to_an_inbox_or_named_after_the_folder(tmp_path: Path) -> None:
    assert FolderLayout.around(tmp_path / "Sigil" / "inbox") == FolderLayout(
        tmp_path / "Sigil" / "inbox",
        tmp_path / "Sigil" / "outputs",
        tmp_path / "Sigil" / "done",
        tmp_path / "Sigil" / "failed",
    )
    assert FolderLayout.around(tmp_path / "drop").failed == tmp_path / "drop-failed"


def test_default_folder_names_are_safe_on_every_os(tmp_path: Path) -> None:
    technique = Technique(technique_id="tech_x", name='A/B: "C"*?  ', run_cost=0.1)
    assert onboarding.default_layout(technique, "x", home=tmp_path).inbox == (
        tmp_path / "FLORA" / "A B C" / "inbox"
    )
    nameless = Technique(technique_id="tech_x", name="...", run_cost=0.1)
    assert onboarding.default_layout(nameless, "x", home=tmp_path).inbox.parent.name == "x"


def odd_plan(tmp_path: Path) -> FolderPlan:
    technique = Technique(
        technique_id="tech_odd",
        name="Odd\nName # with a hash",
        run_cost=0.005,
        inputs=(IOSpec(id="input_image", name="Input", type="imageUrl"),),
    )
    folder = tmp_path / 'it\'s "odd"' / "inbox"
    return FolderPlan(FolderLayout.around(folder), "tech_odd", technique)


def test_a_new_config_is_valid_toml_with_everything_in_place(tmp_path: Path) -> None:
    plan = odd_plan(tmp_path)
    text = onboarding.new_config_text(
        plan,
        base_url="https://app.flora.ai/api/v1",
        workspace_id="ws_1",
        workspace_name="Mine\n[flora]",
        key_location="the OS keyring",
        home=tmp_path / "elsewhere",
    )
    config = onboarding.candidate_config(text, tmp_path / "c.toml")
    assert "base_url" not in text  # the default is not written
    assert config.flora.workspace_id == "ws_1"
    (folder,) = config.folders
    assert folder.path == plan.layout.inbox
    assert folder.technique == "tech_odd"
    assert "$0.005 a run" in text


def test_adding_a_workspace_to_an_existing_flora_table_or_a_config_without_one(
    tmp_path: Path,
) -> None:
    with_table = '# mine\n[flora] # the API\nbase_url = "https://app.flora.ai/api/v1"\n'
    text = onboarding.add_workspace_text(with_table, "ws_2", "Two")
    assert tomllib.loads(text)["flora"] == {
        "base_url": "https://app.flora.ai/api/v1",
        "workspace_id": "ws_2",
    }
    assert text.startswith("# mine\n[flora] # the API\n")
    without = "[daemon]\nsettle_seconds = 1"
    assert tomllib.loads(onboarding.add_workspace_text(without, "ws_3", "Three")) == {
        "daemon": {"settle_seconds": 1},
        "flora": {"workspace_id": "ws_3"},
    }


def test_writing_never_overwrites_an_edit_made_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    onboarding.write_config_file(path, "a = 1\n", expected=None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(onboarding.ConfigChangedError, match="was created while"):
        onboarding.write_config_file(path, "a = 2\n", expected=None)
    path.chmod(0o644)
    onboarding.write_config_file(path, "a = 3\n", expected=b"a = 1\n")
    assert path.read_text("utf-8") == "a = 3\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # kept
    with pytest.raises(onboarding.ConfigChangedError, match="was changed while"):
        onboarding.write_config_file(path, "a = 4\n", expected=b"a = 1\n")
    assert path.read_text("utf-8") == "a = 3\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"], "no temp left"
