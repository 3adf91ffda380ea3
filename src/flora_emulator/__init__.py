"""A local FLORA: the subset of the public API floradrop uses, with real technique work.

Start it in-process (tests, ``floradrop demo``) or with ``floradrop emulator``. It serves
``/api/v1`` exactly as the OpenAPI documents describe it (paths, fields, status codes, the
error envelope), a signed-upload target that refuses FLORA keys, and a media host that
serves run outputs as files. Module map:

* :mod:`~flora_emulator.server`: :class:`Emulator` (lifecycle, knobs, services);
* :mod:`~flora_emulator.handler`: HTTP/1.1 connections, recording, dropped connections;
* :mod:`~flora_emulator.routes`: the route table; faults and auth before each endpoint;
* :mod:`~flora_emulator.api_catalog`, :mod:`~flora_emulator.api_runs`,
  :mod:`~flora_emulator.api_assets`: the endpoints;
* :mod:`~flora_emulator.hosts`: the upload target and the media host;
* :mod:`~flora_emulator.catalog` and :mod:`~flora_emulator.techniques`: what
  techniques exist and what they compute (Pillow);
* :mod:`~flora_emulator.lifecycle`: a run's status at a given time;
* :mod:`~flora_emulator.state`, :mod:`~flora_emulator.validation`,
  :mod:`~flora_emulator.multipart`, :mod:`~flora_emulator.wire`: the plumbing.
"""

from __future__ import annotations

from flora_emulator.recording import EmulatorStats, Exchange, RunRecord
from flora_emulator.server import DEFAULT_API_KEY, Emulator

__all__ = ["DEFAULT_API_KEY", "Emulator", "EmulatorStats", "Exchange", "RunRecord"]
