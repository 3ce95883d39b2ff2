"""Free TCP ports on the loopback interface."""

from __future__ import annotations

import socket
import threading

# Ports handed out by this process. The kernel may give the same ephemeral port twice in a row
# once the probing socket is closed; two servers of one test told the same port would then race
# for it, so a port is never handed out twice per test session.
_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The port is found by binding port 0 and closing the socket again, so another process could
    in theory grab it before the caller binds it; on loopback in a test run that window is
    harmless in practice. A port is never returned twice by one Python process.
    """
    if host != "127.0.0.1":
        # The harness must never expose anything beyond loopback.
        raise ValueError(f"only 127.0.0.1 is allowed, got {host!r}")
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        with _lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free port found on 127.0.0.1 after 100 attempts")


def is_listening(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """True when a TCP connection to ``host:port`` is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
