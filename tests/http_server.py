"""A real HTTP server on 127.0.0.1 for the download tests: serves a folder, honours Range
requests, records every request, and can cut the connection short or misbehave on purpose.

Faults (`ServerState.faults[path]`, one popped per request to that path, in order):
    no_length       the body without a Content-Length, ended by closing the connection
    chunked         an HTTP/1.1 chunked body (no Content-Length)
    bad_length      a Content-Length that is not a number
    range_from_zero a 206 whose Content-Range starts at 0, whatever the Range asked for
    range_bad_total a 206 whose Content-Range total is larger than the file
    disconnect      the connection closed before any response
    garbage_status  a status line that is not HTTP
`cut_after[path]` sends only that many bytes of the next body to `path`, then closes.
A Range starting at or after the end of the file gets 416 with `Content-Range: bytes */size`.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class ServerState:
    root: Path
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes, for one response
    ignore_range: bool = False
    faults: dict[str, list[str]] = field(default_factory=dict)  # path -> faults, one a request


class _Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args) -> None:  # keep pytest output quiet
        pass

    def do_GET(self) -> None:
        state = self.state
        header = self.headers.get("Range")
        state.requests.append((self.path, header))
        faults = state.faults.get(self.path) or [None]
        fault = faults.pop(0)
        if fault in ("disconnect", "garbage_status"):
            if fault == "garbage_status":
                self.wfile.write(b"SPEAK FRIEND AND ENTER\r\n\r\n")
            self.close_connection = True
            return
        path = (state.root / self.path.lstrip("/")).resolve()
        if not path.is_relative_to(state.root.resolve()) or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if fault == "chunked":
            self.protocol_version = "HTTP/1.1"
        if header and not state.ignore_range:
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if fault == "range_from_zero":
                start = 0
            total = len(data) + 1000 if fault == "range_bad_total" else len(data)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{total}")
        else:
            self.send_response(200)
        body = data[start:]
        if fault == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif fault == "bad_length":
            self.send_header("Content-Length", f"{len(body)}x")
        elif fault != "no_length":
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = state.cut_after.pop(self.path, None)
        sent = body if cut is None else body[:cut]
        self.close_connection = True
        try:
            if fault != "chunked":
                self.wfile.write(sent)
                return
            for offset in range(0, len(sent), 65536):
                piece = sent[offset : offset + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if cut is None:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading: fine
            pass


@contextmanager
def serve(root: Path) -> Iterator[tuple[str, ServerState]]:
    """Serve `root` at a free port; yields (base URL, state to inspect and steer)."""
    state = ServerState(root=Path(root))
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
