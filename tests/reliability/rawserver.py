"""A loopback TCP server that answers every connection with one broken behaviour, below HTTP.

The fakes speak correct HTTP; these do not: a non-HTTP banner, a body cut off before its
announced length, a body trickled a byte at a time, a body that never ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

KINDS = ("not-http", "cut-off", "trickle", "endless", "silent")


def _serve_one(conn: socket.socket, kind: str, stop: threading.Event) -> None:
    try:
        conn.recv(65536)
        if kind == "not-http":
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        elif kind == "cut-off":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 400\r\n\r\n[{\"name\": \"hub\", ")
        elif kind == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000000\r\n\r\n")
            while not stop.is_set():
                conn.sendall(b" ")
                time.sleep(0.2)
        elif kind == "endless":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"[" + b"1," * 32768
            while not stop.is_set():
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        elif kind == "silent":
            stop.wait(60)
    except OSError:
        pass  # the client gave up: that is the point
    finally:
        conn.close()


@contextmanager
def raw_server(kind: str) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` answering every connection the ``kind`` way."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_serve_one, args=(conn, kind, stop), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        listener.close()
