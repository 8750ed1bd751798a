"""A real HTTP server on 127.0.0.1 for the download tests: serves a folder, honours Range
requests, records every request, and can cut the connection short to test resuming."""

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


class _Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args) -> None:  # keep pytest output quiet
        pass

    def do_GET(self) -> None:
        state = self.state
        header = self.headers.get("Range")
        state.requests.append((self.path, header))
        path = (state.root / self.path.lstrip("/")).resolve()
        if not path.is_relative_to(state.root.resolve()) or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if header and not state.ignore_range:
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = state.cut_after.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.close_connection = True


@contextmanager
def serve(root: Path) -> Iterator[tuple[str, ServerState]]:
    """Serve `root` at a free port; yields (base URL, state to inspect and steer)."""
    state = ServerState(root=Path(root))
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
