"""``floradrop demo``: the whole loop, offline, against the built-in FLORA emulator.

Starts the emulator in-process, makes a demo folder tree in the user data dir, writes its
config, runs the daemon, and drops generated sample images and a text prompt into the inboxes,
so a newcomer sees files go in and results come out. ``--once`` exits when the samples are done.
"""

from __future__ import annotations

import argparse
import os
import shlex
import threading
import time
from pathlib import Path

DEMO_FOLDERS = (
    # (folder name, technique, sample files)
    ("CCTV Cam", "cctv-cam", ("street.png", "portrait.jpg")),
    ("Palette Pull", "palette-pull", ("sunset.png",)),
    ("Icon Pack", "icon-pack", ("weather icons.txt",)),
)


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument("--once", action="store_true", help="exit when the samples are done")
    parser.add_argument("--headless", action="store_true", help="run without a tray icon")
    parser.add_argument(
        "--dir",
        type=Path,
        metavar="PATH",
        help="where to make the demo tree (default: user data dir)",
    )
    parser.add_argument(
        "--run-seconds",
        type=float,
        default=2.0,
        help="how long each emulated run takes (default 2)",
    )


def write_config(root: Path) -> Path:
    lines = [
        "# floradrop demo config (written by 'floradrop demo'; safe to delete)",
        "[daemon]",
        f"state_dir = {str(root / '.state')!r}",
        f"log_dir = {str(root / '.logs')!r}",
        "settle_seconds = 0.5",
        "poll_interval_seconds = 2",
        "",
    ]
    for name, technique, _samples in DEMO_FOLDERS:
        base = root / name
        lines += [
            "[[folders]]",
            f"path = {str(base / 'inbox')!r}",
            f"technique = {technique!r}",
            f"outputs = {str(base / 'outputs')!r}",
            f"done = {str(base / 'done')!r}",
            f"failed = {str(base / 'failed')!r}",
            "",
        ]
    path = root / "floradrop-demo.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def make_sample(path: Path) -> None:
    """A generated picture (or prompt) so the demo needs no files of the user's."""
    if path.suffix == ".txt":
        path.write_text("a set of friendly weather icons: sun, cloud, rain, snow\n", "utf-8")
        return
    from PIL import Image, ImageDraw

    seed = sum(path.name.encode())
    image = Image.new("RGB", (480, 320), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        colour = ((seed + i * 40) % 256, (i * 23) % 256, (255 - i * 19) % 256)
        x, y = (i * 41) % 440, (i * 67) % 280
        draw.ellipse((x, y, x + 60 + i * 4, y + 40 + i * 3), fill=colour)
    image.save(path)


def drop_samples(root: Path, state_dir: Path | None, stop: threading.Event) -> None:
    """Drop each sample as a person would (write elsewhere, then move in); with a state dir,
    first wait for the daemon to be up so the drops are seen live."""
    from floradrop.instance import INFO_NAME

    deadline = time.monotonic() + 60
    while state_dir and not (state_dir / INFO_NAME).exists() and time.monotonic() < deadline:
        if stop.wait(0.1):
            return
    for name, _technique, samples in DEMO_FOLDERS:
        for sample in samples:
            staging = root / ".samples" / sample
            staging.parent.mkdir(exist_ok=True)
            make_sample(staging)
            staging.replace(root / name / "inbox" / sample)
    print(f"\nDropped the samples into the inboxes under {root}", flush=True)


def run(args: argparse.Namespace) -> int:
    from flora_emulator import Emulator
    from floradrop.cli import run_cmd
    from floradrop.paths import data_dir

    root = (args.dir or data_dir() / "demo").expanduser().absolute()
    root = root / time.strftime("%Y%m%d-%H%M%S")
    for name, _technique, _samples in DEMO_FOLDERS:
        (root / name / "inbox").mkdir(parents=True, exist_ok=True)
    config = write_config(root)
    emulator = Emulator(run_seconds=args.run_seconds, seed=1)
    emulator.start()
    stop = threading.Event()
    dropper = threading.Thread(
        target=drop_samples,
        args=(root, root / ".state", stop),
        name="floradrop-demo-drop",
        daemon=True,
    )
    os.environ["FLORA_API_KEY"] = emulator.api_key
    os.environ["FLORADROP_FLORA__BASE_URL"] = emulator.base_url
    print(f"FLORA emulator on {emulator.base_url} (offline demo; nothing is charged)")
    print(f"Demo folders: {root}")
    for name, technique, _samples in DEMO_FOLDERS:
        print(f"  {name}/inbox  -> {technique} -> {name}/outputs")
    quoted = shlex.quote(str(config))
    print(f"Config: {config}")
    print(f"In another terminal: floradrop status --config {quoted}")
    print(f"                     floradrop stop --config {quoted}")
    if not args.once:
        print("Drop your own images into an inbox too. Ctrl-C to stop.")
    if args.once:
        drop_samples(root, None, stop)  # already there at start: picked up by the startup scan
    else:
        dropper.start()
    try:
        code = run_cmd.run(
            argparse.Namespace(
                config=config, headless=args.headless, once=args.once, dry_run=False, verbose=False
            )
        )
    finally:
        stop.set()
        if dropper.is_alive():
            dropper.join(5)
        emulator.stop()
    outputs = sorted(p for p in root.glob("*/outputs/*") if not p.name.endswith(".json"))
    print(f"\n{len(outputs)} output file(s) written:")
    for path in outputs:
        print(f"  {path}")
    print(f"Originals were filed in */done; the config is {config}")
    return code
