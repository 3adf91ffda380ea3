"""Trust boundaries: what the server sends cannot reach outside the outputs folder, links are
never followed out of a watched folder, no shell ever sees a file name, and the daemon's
control channel and key are the user's alone. RELIABILITY.md ("Secrets and trust boundaries")
records what each test showed.

The hostile server is the real emulator behind an httpx transport that rewrites the outputs
of every completed run and plays a made-up media host (``media.evil.test``), so the real
engine meets hostile output URLs, content types, redirects and sizes.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from flora_emulator import Emulator
from floradrop.config import Config, load_config
from floradrop.engine import Engine
from floradrop.flora import FloraClient
from floradrop.jobs import JobState
from floradrop.journal import Job
from floradrop.pipeline import fetch

from ..engine.harness import Daemon, drop, folder_toml, png_bytes, wait_for, write_config

SRC = Path(__file__).resolve().parents[2] / "src" / "floradrop"
MEDIA_HOST = "media.evil.test"
PNG = png_bytes(1)
SYSTEM_PYTHON = "/usr/bin/python3"  # one that user nobody may run (the venv's may be private)


@dataclass
class HostileServer(httpx.BaseTransport):
    """The emulator for the API, except that the completed run of ``{stem}.png`` lists
    ``outputs[stem]``; the media host answers ``media[raw path] = (status, headers, body)``
    and records what it was asked."""

    outputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    media: dict[str, tuple[int, dict[str, str], bytes | list[bytes]]] = field(default_factory=dict)
    fetched: list[httpx.Request] = field(default_factory=list)
    real: httpx.HTTPTransport = field(default_factory=httpx.HTTPTransport)
    runs: dict[str, str] = field(default_factory=dict)  # run id -> stem of the dropped file

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == MEDIA_HOST:
            self.fetched.append(request)
            path = request.url.raw_path.decode("ascii")  # as sent, %2F and all
            status, headers, body = self.media.get(path, (404, {}, b"no such media"))
            if isinstance(body, list):  # streamed, no Content-Length
                return httpx.Response(status, headers=headers, content=iter(body))
            return httpx.Response(status, headers=headers, content=body)
        response = self.real.handle_request(request)
        created = request.method == "POST" and request.url.path.endswith("/runs")
        if not created and (request.method != "GET" or "runs" not in request.url.path):
            return response
        body = json.loads(response.read())
        if created and response.is_success:
            [value] = [i["value"] for i in json.loads(request.read())["inputs"]]
            self.runs[body["run_id"]] = PurePosixPath(unquote(urlsplit(value).path)).stem
        else:
            self._rewrite(body)
        headers = {"content-type": "application/json"}
        return httpx.Response(response.status_code, headers=headers, json=body)

    def _rewrite(self, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                self._rewrite(item)
        elif isinstance(value, dict):
            run_id = value.get("run_id") or value.get("technique_run_id")
            if value.get("status") == "completed" and run_id in self.runs:
                value["outputs"] = [dict(o) for o in self.outputs[self.runs[run_id]]]
            for item in value.values():
                self._rewrite(item)

    def close(self) -> None:
        self.real.close()


class HostileDaemon(Daemon):
    def __init__(self, config: Config, emulator: Emulator, transport: HostileServer) -> None:
        self.config = config
        self.emulator = emulator
        self.client = FloraClient(emulator.api_key, base_url=emulator.base_url, transport=transport)
        self.engine = Engine(config, client=self.client)


@contextmanager
def hostile(tmp_path: Path, emu: Emulator) -> Iterator[tuple[HostileDaemon, HostileServer]]:
    server = HostileServer()
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    daemon = HostileDaemon(load_config(config), emu, server)
    try:
        yield daemon.start(), server
    finally:
        daemon.stop()
        server.close()


def run_cases(
    daemon: Daemon, server: HostileServer, cases: dict[str, list[dict[str, Any]]]
) -> dict[str, Job]:
    """Drop ``{stem}.png`` for every case at once; the run of each completes with its
    outputs. The jobs, once all are over (done, or failed with their report written)."""
    server.outputs.update(cases)
    for stem in cases:
        data = png_bytes(zlib.crc32(stem.encode()) % 100_000)
        drop(daemon.config.folders[0].path, f"{stem}.png", data)

    def over() -> dict[str, Job] | None:
        jobs = {j.name.removesuffix(".png"): j for j in daemon.jobs()}
        ready = {
            stem: job
            for stem, job in jobs.items()
            if stem in cases and (job.state is JobState.DONE or job.report_path)
        }
        return ready if len(ready) == len(cases) else None

    done: dict[str, Job] = wait_for(over, 60, f"{len(cases)} jobs to be over")
    return done


def image(url: str, output_id: str = "output_image") -> dict[str, Any]:
    return {"output_id": output_id, "type": "imageUrl", "url": url}


def every_file(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_output_names_and_urls_from_the_server_stay_inside_the_outputs_folder(
    tmp_path: Path, emulator: Emulator
) -> None:
    base = f"https://{MEDIA_HOST}"
    root = tmp_path / "work"
    root.mkdir()
    hostile_text = "../../etc/passwd\n$(rm -rf ~)"
    with hostile(root, emulator) as (daemon, server):
        before = every_file(tmp_path)
        server.media = {
            "/tmp/evil.png": (200, {"content-type": "image/png"}, PNG),
            "/a/..%2F..%2Fevil.sh": (200, {"content-type": "application/x-sh"}, PNG),
            "/C:%5CWindows%5Csystem32%5CCON.exe": (200, {}, PNG),
            "/mime.png": (200, {"content-type": "image/png/../../../../x"}, PNG),
            "/desktop": (200, {"content-type": "application/x-desktop"}, b"[Desktop Entry]"),
        }
        jobs = run_cases(
            daemon,
            server,
            {
                "trav": [image(f"{base}/../../../../tmp/evil.png", "../../../x")],
                "enc": [image(f"{base}/a/..%2F..%2Fevil.sh")],
                "win": [image(f"{base}/C:%5CWindows%5Csystem32%5CCON.exe")],
                "mime": [image(f"{base}/mime.png")],
                "CON": [image(f"{base}/desktop")],
                "many": [image(f"{base}/tmp/evil.png", "/etc/passwd") for _ in range(3)],
                "text": [{"output_id": "../../x", "type": "text", "url": hostile_text}],
            },
        )
        after = every_file(tmp_path)
    outputs = root / "in-outputs"
    names = {stem: sorted(Path(o["path"]).name for o in job.outputs) for stem, job in jobs.items()}
    assert names == {
        "trav": ["trav.cctv-cam.png"],
        "enc": ["enc.cctv-cam.png"],  # not .sh: an imageUrl is saved as an image
        "win": ["win.cctv-cam.png"],  # not .exe
        "mime": ["mime.cctv-cam.png"],
        "CON": ["_CON.cctv-cam.png"],  # not .desktop; not a reserved device name
        "many": [f"many.cctv-cam-{n}.png" for n in (1, 2, 3)],
        "text": ["text.cctv-cam.txt"],
    }
    for job in jobs.values():
        assert job.state is JobState.DONE
        for output in job.outputs:
            assert Path(output["path"]).parent == outputs
    assert (outputs / "text.cctv-cam.txt").read_text() == hostile_text
    new = after - before
    allowed = [root / d for d in ("in-outputs", "in-done", "state", ".staging")]
    assert [p for p in new if not any(p.is_relative_to(a) for a in allowed)] == []
    assert not any(p.name.startswith(".floradrop-") for p in new), "no temporary file left"
    assert not Path("/tmp/evil.png").exists() and not (tmp_path / "evil.sh").exists()
    assert all("authorization" not in r.headers for r in server.fetched), "no key to media"


def test_unsafe_output_urls_are_refused_and_reported(tmp_path: Path, emulator: Emulator) -> None:
    base = f"https://{MEDIA_HOST}"
    refused = {
        "file": "file:///etc/passwd",
        "plain": f"http://{MEDIA_HOST}/x.png",  # https only, except the loopback emulator
        "relative": "/relative/evil.png",
        "userinfo": f"https://user:secret@{MEDIA_HOST}/fine.png",
        "javascript": "javascript:alert(1)",
        "metadata": f"{base}/to-metadata",
        "redirect-file": f"{base}/to-file",
    }
    with hostile(tmp_path, emulator) as (daemon, server):
        server.media = {
            "/to-metadata": (302, {"location": "http://169.254.169.254/latest/meta-data/"}, b""),
            "/to-file": (302, {"location": "file:///etc/passwd"}, b""),
            "/to-https": (302, {"location": f"{base}/fine.png"}, b""),
            "/fine.png": (200, {"content-type": "image/png"}, PNG),
        }
        cases = {stem: [image(url)] for stem, url in refused.items()}
        jobs = run_cases(daemon, server, cases | {"redirected": [image(f"{base}/to-https")]})
    fetched = sorted(str(r.url) for r in server.fetched)
    assert fetched == sorted(
        f"{base}/{p}" for p in ("to-metadata", "to-file", "to-https", "fine.png")
    )
    for stem in refused:
        job = jobs[stem]
        assert job.state is JobState.FAILED, stem
        report = Path(job.report_path or "").read_text()
        assert "Refusing to download" in report or "not a valid URL" in report, (stem, report)
        assert job.run_id is not None and job.run_id in report  # the paid run, to find in FLORA
        assert "secret" not in report  # a URL's password is not repeated
    assert "plain http" in (jobs["plain"].error_message or "")
    assert jobs["redirected"].state is JobState.DONE  # an https redirect to https is followed
    written = sorted(p.name for p in (tmp_path / "in-outputs").iterdir())
    assert written == ["redirected.cctv-cam.png", "redirected.cctv-cam.png.json"]


def test_output_downloads_are_size_capped_and_leave_nothing_behind(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "MAX_OUTPUT_BYTES", 50_000)  # the real cap is 2 GiB
    base = f"https://{MEDIA_HOST}"
    chunk = b"\0" * 16_384
    with hostile(tmp_path, emulator) as (daemon, server):
        server.media = {
            "/declared.png": (
                200,
                {"content-type": "image/png", "content-length": str(10 * 1024**3)},
                b"",
            ),
            "/endless.png": (200, {"content-type": "image/png"}, [chunk] * 20),  # 320 KB
            "/small.png": (200, {"content-type": "image/png"}, PNG),
        }
        jobs = run_cases(
            daemon,
            server,
            {stem: [image(f"{base}/{stem}.png")] for stem in ("declared", "endless", "small")},
        )
    for stem in ("declared", "endless"):
        assert jobs[stem].state is JobState.FAILED
        assert "larger than the limit of 50000 bytes" in (jobs[stem].error_message or "")
        assert Path(jobs[stem].report_path or "").exists()
    assert jobs["small"].state is JobState.DONE
    written = sorted(p.name for p in (tmp_path / "in-outputs").iterdir())
    assert written == ["small.cctv-cam.png", "small.cctv-cam.png.json"], "no partial file left"


def test_no_shell_ever_runs_and_subprocesses_take_argument_lists() -> None:
    """An AST scan of every module: no ``shell=True``, no ``os.system``/``os.popen``, and
    every ``subprocess`` call gets a list (a file name is one argument, never shell text)."""
    problems = []
    calls = 0
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            if name in ("os.system", "os.popen", "os.spawnl", "os.spawnlp", "commands.getoutput"):
                problems.append(f"{where}: {name}")
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    problems.append(f"{where}: shell={ast.unparse(keyword.value)}")
            if name.startswith("subprocess.") and name.split(".")[1] in (
                "run",
                "Popen",
                "call",
                "check_call",
                "check_output",
            ):
                calls += 1
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant | ast.JoinedStr | ast.BinOp):
                    problems.append(f"{where}: {name} with a string command")
    assert problems == []
    assert calls >= 2, "the scan found the subprocess calls it is meant to check"


def test_the_opener_passes_a_hostile_file_name_as_one_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from floradrop.tray import opener

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    fake = bin_dir / "xdg-open"
    fake.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"open({str(record)!r} + '.tmp', 'w').write(json.dumps(sys.argv[1:]))\n"
        f"os.replace({str(record)!r} + '.tmp', {str(record)!r})\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(opener, "opener_command", lambda: ["xdg-open"])
    name = tmp_path / "out" / "-x $(touch pwned); `id` 'q' \"d\"\nnew line.png"
    name.parent.mkdir()
    name.write_bytes(PNG)
    opener.open_path(name)
    wait_for(record.exists, 20, "the opener to run")
    assert json.loads(record.read_text()) == [str(name)]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    for thread in [t for t in threading.enumerate() if t.name == "floradrop-opener"]:
        thread.join(10)  # the reaper of the opener process


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_control_channel_key_file_and_journal_are_the_user_s_alone(
    tmp_path: Path, emulator: Emulator
) -> None:
    """A real daemon, its API key in the private key file (no keyring here), umask 022."""
    from floradrop.apikey import store_api_key
    from floradrop.instance import DaemonInfo

    state = tmp_path / "state"
    where = store_api_key(
        emulator.api_key, base_url=emulator.base_url, state_dir=state, use_keyring=False
    )
    assert where == str(state / "api-key")
    config = (
        write_config(
            tmp_path,
            folder_toml(tmp_path, "in", "cctv-cam"),
        ).read_text()
        + f"\n[flora]\nbase_url = {emulator.base_url!r}\n"
    )
    (tmp_path / "floradrop.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLORA_", "FLORADROP_"))}
    log = tmp_path / "daemon.log"
    old_umask = os.umask(0o022)
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "floradrop",
                    "run",
                    "--headless",
                    "--config",
                    str(tmp_path / "floradrop.toml"),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    finally:
        os.umask(old_umask)
    try:
        info = wait_for(
            lambda: proc.poll() is None and DaemonInfo.read(state), 60, "the daemon to be up"
        )
        drop(tmp_path / "in", "a.png", PNG)  # work, so that the journal's WAL files exist
        wait_for(lambda: list((tmp_path / "in-outputs").glob("*.png")), 60, "an output")
        assert proc.poll() is None, log.read_text()
        socket = Path(info.control_address or "")
        private = {
            state: 0o700,
            tmp_path / "logs": 0o700,
            state / "api-key": 0o600,
            state / "control.key": 0o600,
            socket: 0o600,
            state / "daemon.json": 0o600,
            state / "journal.sqlite3": 0o600,
        }
        private[socket.parent] = 0o700
        for path, expected in private.items():
            assert mode(path) == expected, (path, oct(mode(path)))
        for path in state.iterdir():  # the journal's WAL and shared-memory files too
            if path.name != "daemon.lock":  # empty: only its lock matters
                assert mode(path) & 0o077 == 0, (path, oct(mode(path)))
        if os.geteuid() == 0 and Path(SYSTEM_PYTHON).exists():
            another_user(state, socket)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-2000:]


def another_user(state: Path, socket: Path) -> None:
    """As user nobody: the key files cannot be read and the socket cannot be connected to."""
    code = (
        "import socket, sys\n"
        "for path in sys.argv[1:3]:\n"
        "    try:\n"
        "        open(path).read(); print('read', path)\n"
        "    except PermissionError:\n"
        "        pass\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(sys.argv[3]); print('connected')\n"
        "except PermissionError:\n"
        "    pass\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            code,
            str(state / "control.key"),
            str(state / "api-key"),
            str(socket),
        ],
        check=False,
        user=65534,
        group=65534,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout.strip() == "ok", (done.stdout, done.stderr)


def test_links_planted_under_floradrop_s_temporary_names_are_never_written_through(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Someone who can write to the outputs folder plants links named like floradrop's next
    temporary files: the outputs and their sidecars are written as files of their own, and
    what the links point at is never touched."""
    from PIL import Image

    from ..engine.harness import running

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folders = folder_toml(tmp_path, "img", "cctv-cam") + folder_toml(
        tmp_path, "crit", "art-directors-critique"
    )
    with running(write_config(tmp_path, folders), emulator) as daemon:
        planted = [
            tmp_path / "img-outputs" / ".floradrop-1-0.part",  # job 1's download
            tmp_path / "img-outputs" / ".floradrop-photo.cctv-cam.png.json.part",  # its sidecar
            tmp_path / "crit-outputs" / ".floradrop-2-0.part",  # job 2's text output
        ]
        for link in planted:
            link.symlink_to(victim)
        drop(tmp_path / "img", "photo.png", png_bytes(90))
        daemon.wait_state(1, JobState.DONE)
        drop(tmp_path / "crit", "poster.png", png_bytes(91))
        daemon.wait_state(2, JobState.DONE)
    assert victim.read_text() == "precious"
    output = tmp_path / "img-outputs" / "photo.cctv-cam.png"
    assert not output.is_symlink() and not Path(f"{output}.json").is_symlink()
    with Image.open(output) as picture:
        picture.verify()
    assert json.loads(Path(f"{output}.json").read_text())["technique"] == "cctv-cam"
    critique = tmp_path / "crit-outputs" / "poster.art-directors-critique.txt"
    assert not critique.is_symlink() and "precious" not in critique.read_text()
