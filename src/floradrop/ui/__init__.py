"""The local dashboard: a small web page the running daemon serves on 127.0.0.1.

* :mod:`floradrop.ui.access` - the per-install token, the address, and the checks every
  request passes (token, Host header, same-origin POST);
* :mod:`floradrop.ui.server` - the HTTP server (the standard library's ``ThreadingHTTPServer``)
  and its routes;
* :mod:`floradrop.ui.now` - what each folder is doing now, from the status snapshot and the
  journal;
* :mod:`floradrop.ui.thumbs` - small thumbnails of outputs, made with Pillow and cached;
* ``assets/`` - the page itself: plain HTML, CSS and JavaScript, no build step, no CDN.

History and spend come from :mod:`floradrop.history`.
"""

from floradrop.ui.server import Dashboard

__all__ = ["Dashboard"]
