"""A WSGI application served in threads of this process, without access logs: how the test suite
and the sandbox serve casehub's web process (production uses gunicorn), and how a Socket Mode
process answers its health checks."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class BackgroundServer:
    def __init__(self, application: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_server(
            host, port, application, server_class=ThreadingServer, handler_class=QuietHandler
        )
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
