#!/usr/bin/env python3
"""Hosting figures: putting files in an S3-compatible bucket (moto's server on loopback).

    .venv/bin/python scripts/bench_hosting.py            # 1 and 96 MiB, and link signing

Times ``Store.ensure`` for a new file (a single PUT up to 16 MiB, 8 MiB parts above), the
same file again (found in the bucket by its content-addressed key: nothing sent), and
making plus signing one presigned link. Needs the dev extra (moto[server], minio).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    from loguru import logger
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logger.remove()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ACCESS_KEY_ID="AKIABENCH", AWS_SECRET_ACCESS_KEY="bench-secret-key")
    from floradrop.config.hosting import HostingSettings
    from floradrop.hosting import open_store

    root = Path(tempfile.mkdtemp(prefix="floradrop-bench-hosting-"))
    settings = HostingSettings(endpoint=f"http://{host}:{port}", bucket="bench-bucket")
    store = open_store(settings, root / "state")
    store._client.make_bucket("bench-bucket")
    try:
        for mib in (1, 96):
            path = root / f"clip-{mib}.mp4"
            path.write_bytes(os.urandom(mib * 2**20))
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            start = time.perf_counter()
            store.ensure(path, digest, content_type="video/mp4")
            first = time.perf_counter() - start
            start = time.perf_counter()
            store.ensure(path, digest, content_type="video/mp4")
            again = time.perf_counter() - start
            print(
                f"{mib:>3} MiB: hosted in {first:.2f} s ({mib / first:.0f} MiB/s); "
                f"the same file again: {again * 1000:.0f} ms (reused, nothing sent)"
            )
        start = time.perf_counter()
        for _ in range(200):
            store.sign(store.link("floradrop/x.png"))
        each = (time.perf_counter() - start) / 200 * 1000
        print(f"one link made and signed: {each:.2f} ms")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
