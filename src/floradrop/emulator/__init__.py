"""A local FLORA: the subset of the public API floradrop uses, with real technique work.

Start it in-process (tests, ``floradrop demo``) or with ``floradrop emulator``. It serves
``/api/v1`` exactly as the OpenAPI documents describe it (paths, fields, status codes, the
error envelope), a signed-upload target that refuses FLORA keys, and a media host that
serves run outputs as files. Module map:

* :mod:`~floradrop.emulator.server`: :class:`Emulator` (lifecycle, knobs, services);
* :mod:`~floradrop.emulator.handler`: HTTP/1.1 connections, recording, dropped connections;
* :mod:`~floradrop.emulator.routes`: the route table; faults and auth before each endpoint;
* :mod:`~floradrop.emulator.api_catalog`, :mod:`~floradrop.emulator.api_runs`,
  :mod:`~floradrop.emulator.api_assets`: the endpoints;
* :mod:`~floradrop.emulator.hosts`: the upload target and the media host;
* :mod:`~floradrop.emulator.catalog` and :mod:`~floradrop.emulator.techniques`: what
  techniques exist and what they compute (Pillow);
* :mod:`~floradrop.emulator.lifecycle`: a run's status at a given time;
* :mod:`~floradrop.emulator.state`, :mod:`~floradrop.emulator.validation`,
  :mod:`~floradrop.emulator.multipart`, :mod:`~floradrop.emulator.wire`: the plumbing.
"""

from __future__ import annotations

from floradrop.emulator.recording import EmulatorStats, Exchange, RunRecord
from floradrop.emulator.server import DEFAULT_API_KEY, Emulator

__all__ = ["DEFAULT_API_KEY", "Emulator", "EmulatorStats", "Exchange", "RunRecord"]
