"""Serving an ASGI app from a background thread on a socket we bound ourselves, so that
``--port 0`` can report the port it got."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one (``getsockname`` tells which)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve_in_thread(app, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:  # noqa: ANN001
    """Serve an ASGI app on ``sock`` from a background thread; returns once it listens.
    Stop it with ``server.should_exit = True`` and join the thread."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="api",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the API server did not start on {sock.getsockname()}")
        time.sleep(0.05)
    return server, thread
