"""`playbook serve`: a read-only local web server for one study or a directory of studies.

Built on the standard library's `ThreadingHTTPServer` (docs/ARCHITECTURE.md says
why). Routes, all GET (any other method is 405; nothing changes a study):

    /                               the studies served, or the only study's page
    /api/studies                    [{index, name, path}]
    /s/N/                           study N's page; /s/N/api/study?since=VERSION its data
    /s/N/api/curves?t=ID,ID         training curves of chosen trials
    /s/N/trial/ID                   a trial's page; /s/N/api/trial/ID its data
    /s/N/trial/ID/config.py         the trial's config for `playbook train`
    /s/N/files/PATH                 a file inside study N (inert: plain text or download)
    /static/NAME                    plotly.min.js (from the plotly package), dashboard.js/.css

Pages are static shells; dashboard.js fetches the JSON and builds the DOM with
`textContent`, so no string from a study is parsed as HTML, and a
Content-Security-Policy forbids inline scripts besides. Paths from requests are
never joined blindly: studies are looked up by number, trial ids are checked,
and a file path that is absolute, climbs with `..`, or resolves (through
symbolic links) outside the study is a 404.
"""

from __future__ import annotations

import errno
import functools
import http.server
import json
import logging
import mimetypes
import os
import socket
import threading
import urllib.parse
from typing import Any

from playbook.atomic import read_json
from playbook.dashboard import state
from playbook.errors import ConfigError

STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
# No inline script may run; Plotly needs inline styles, and its WebGL traces
# (parallel coordinates) compile shaders through `new Function`.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
TEXT_FILES = (".txt", ".json", ".jsonl", ".py", ".log", ".csv", ".md")
IMAGE_FILES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """The plotly.min.js that the `plotly` package ships (served; never a CDN)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


class Dashboard:
    """The studies served and a cache of their views, keyed by each study's fingerprint."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = os.path.abspath(os.fspath(directory))
        self.studies: list[str] = state.find_studies(self.directory)
        self._cache: dict[tuple[int, str], tuple[str, bytes]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Adds studies created since (numbers of known ones never change)."""
        try:
            found = state.find_studies(self.directory)
        except ConfigError:
            return
        with self._lock:
            self.studies += [s for s in found if s not in self.studies]

    def study(self, index: str) -> str | None:
        return self.studies[int(index)] if index.isdigit() and int(index) < len(
            self.studies) else None

    def study_json(self, index: int, root: str, since: str | None) -> bytes:
        version = state.fingerprint(root)
        if since == version:
            return json.dumps({"version": version, "unchanged": True}).encode()
        with self._lock:
            cached = self._cache.get((index, "study"))
        if cached is not None and cached[0] == version:
            return cached[1]
        body = json.dumps(state.study_view(root), allow_nan=False).encode()
        with self._lock:
            self._cache[(index, "study")] = (version, body)
        return body

    def index(self) -> list[dict[str, Any]]:
        self.refresh()
        out = []
        for i, root in enumerate(self.studies):
            spec = (read_json(os.path.join(root, state.STUDY_FILE)) or {}).get("spec", {})
            out.append({"index": i, "name": str(spec.get("name", "?")),
                        "path": os.path.relpath(root, self.directory),
                        "metric": str(spec.get("metric", "?"))})
        return out


class Handler(http.server.BaseHTTPRequestHandler):
    """One request; `dashboard` is set on a subclass by `make_server`."""

    dashboard: Dashboard
    server_version = "playbook-serve"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # noqa: BLE001 - the server outlives one bad request
            log.exception("dashboard: %s failed", self.path)
            self._send(500, b"internal error (see the server's log)", "text/plain")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _refuse(self) -> None:
        self._send(405, b"read-only: only GET and HEAD", "text/plain", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

    # -- routing ------------------------------------------------------------------------

    def _route(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.split("/")[1:]
        if url.path == "/":
            studies = self.dashboard.index()
            if len(studies) == 1:
                return self._redirect("/s/0/")
            return self._page("index", "")
        if url.path == "/api/studies":
            return self._json(json.dumps(self.dashboard.index()).encode())
        if len(parts) == 2 and parts[0] == "static":
            return self._static(parts[1])
        if len(parts) == 2 and parts[0] == "s" and self.dashboard.study(parts[1]) is not None:
            return self._redirect(f"/s/{int(parts[1])}/")
        if len(parts) >= 3 and parts[0] == "s":
            root = self.dashboard.study(parts[1])
            if root is not None:
                return self._study_route(int(parts[1]), root, parts[2:], query)
        self._not_found()

    def _study_route(self, index: int, root: str, rest: list[str],
                     query: dict[str, list[str]]) -> None:
        base = f"/s/{index}/"
        if rest == [""]:
            return self._page("study", base)
        if rest == ["api", "study"]:
            since = query.get("since", [None])[0]
            return self._json(self.dashboard.study_json(index, root, since))
        if rest == ["api", "curves"]:
            ids = [t for t in ",".join(query.get("t", [])).split(",") if t]
            return self._json(json.dumps(state.curves_view(root, ids)).encode())
        if len(rest) == 2 and rest[0] == "trial":
            if state.trial_view(root, rest[1]) is None:
                return self._not_found()
            return self._page("trial", base, rest[1])
        if len(rest) == 3 and rest[:2] == ["api", "trial"]:
            view = state.trial_view(root, rest[2])
            if view is None:
                return self._not_found()
            return self._json(json.dumps(view, default=str).encode())
        if len(rest) == 3 and rest[0] == "trial" and rest[2] == "config.py":
            source = state.config_source(root, rest[1])
            if source is None:
                return self._not_found()
            return self._send(200, source.encode(), "text/x-python; charset=utf-8", {
                "Content-Disposition": f'attachment; filename="trial_{rest[1]}.py"'})
        if len(rest) >= 2 and rest[0] == "files":
            return self._file(root, "/".join(rest[1:]))
        self._not_found()

    # -- responses ----------------------------------------------------------------------

    def _send(self, code: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in {"Content-Type": content_type, "Content-Length": str(len(body)),
                           "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                           "Cache-Control": "no-store", **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_found(self) -> None:
        self._send(404, b"not found", "text/plain; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain", {"Location": location})

    def _json(self, body: bytes) -> None:
        self._send(200, body, "application/json")

    def _page(self, page: str, base: str, trial_id: str = "") -> None:
        # Only fixed strings, a study number and a checked trial id enter the page.
        body = PAGE.format(page=page, base=base, trial=trial_id).encode()
        self._send(200, body, "text/html; charset=utf-8")

    def _static(self, name: str) -> None:
        if name == "plotly.min.js":
            return self._send(200, plotly_js(), "text/javascript; charset=utf-8",
                              {"Cache-Control": "max-age=86400"})
        if name not in ("dashboard.js", "dashboard.css"):
            return self._not_found()
        with open(os.path.join(STATIC_DIR, name), "rb") as f:
            body = f.read()
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        self._send(200, body, f"{kind}; charset=utf-8")

    def _file(self, root: str, relative: str) -> None:
        path = safe_path(root, urllib.parse.unquote(relative))
        if path is None:
            return self._not_found()
        with open(path, "rb") as f:
            body = f.read()
        ext = os.path.splitext(path)[1].lower()
        headers = {"Content-Security-Policy": "sandbox"}
        if ext in IMAGE_FILES:
            return self._send(200, body, IMAGE_FILES[ext], headers)
        if ext in TEXT_FILES:
            return self._send(200, body, "text/plain; charset=utf-8", headers)
        # Anything else (HTML included) is a download, never rendered on this origin.
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        self._send(200, body, kind, {**headers, "Content-Disposition": "attachment"})


def safe_path(root: str, relative: str) -> str | None:
    """The file `relative` inside `root`, or None if it is absolute, climbs out with `..`,
    resolves outside `root` through symbolic links, or is not a regular file."""
    if not relative or "\x00" in relative or relative.startswith(("/", "\\")) or os.path.isabs(
            relative):
        return None
    parts = relative.replace("\\", "/").split("/")
    if any(p in ("..", "") for p in parts):
        return None
    path = os.path.join(root, *parts)
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    if not real.startswith(real_root + os.sep) or not os.path.isfile(real):
        return None
    return real


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>playbook dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/plotly.min.js"></script>
<script src="/static/dashboard.js" defer></script></head>
<body data-page="{page}" data-base="{base}" data-trial="{trial}">
<header><a href="/">playbook</a> <span id="title"></span>
<span id="live" class="live"></span></header><main id="main">loading...</main></body></html>
"""


def make_server(directory: str | os.PathLike, host: str = "127.0.0.1", port: int = 8080
                ) -> http.server.ThreadingHTTPServer:
    """A server for the studies under `directory`, bound but not yet serving.

    ConfigError (one line) for a directory holding no study, a port in use, or a
    host that cannot be bound.
    """
    dashboard = Dashboard(directory)
    handler = type("BoundHandler", (Handler,), {"dashboard": dashboard})
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use; choose another with --port "
                              f"(e.g. --port {port + 1}) or stop what holds it") from None
        if isinstance(e, socket.gaierror) or e.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(f"cannot bind host '{host}' ({e.strerror}); use --host 127.0.0.1 "
                              f"(this machine only) or an address of this machine") from None
        raise
    server.daemon_threads = True
    server.dashboard = dashboard
    return server


def serve(directory: str | os.PathLike, host: str = "127.0.0.1", port: int = 8080) -> int:
    """Serves until interrupted; returns the exit status."""
    server = make_server(directory, host, port)
    studies = server.dashboard.studies
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    print(f"serving {len(studies)} stud{'y' if len(studies) == 1 else 'ies'} under "
          f"{server.dashboard.directory} at http://{shown}:{server.server_address[1]}/ "
          f"(read-only; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
