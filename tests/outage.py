"""Database outages for tests: a TCP relay in front of the PostgreSQL test server that can refuse
every connection and cut the open ones, and a SQLite database whose directory goes away.

Neither touches the shared server: the relay only stops relaying.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

SECRET = "s3cret-pw"  # planted in the URL: no log line may show it


class Relay:
    """A TCP relay to `target` on a fixed local port; `down()` refuses new connections (the port
    is closed) and cuts the relayed ones, `up()` listens on the same port again."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _cut(listener)  # shutdown wakes the thread blocked in accept()
        with self._lock:
            cut, self._open = self._open, set()
        for s in cut:
            _cut(s)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # down
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # went down meanwhile
                    _cut(client)
                    _cut(server)
                    return
                self._open |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            _cut(s)
        with self._lock:
            self._open -= {src, dst}


def _cut(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


class PostgresOutage:
    """A fresh PostgreSQL database reached through a Relay, with a password in the URL."""

    def __init__(self, direct: str):
        self.direct = direct
        parsed = make_url(direct)
        self.relay = Relay((parsed.host or "127.0.0.1", parsed.port or 5432))
        self.url = parsed.set(host="127.0.0.1", port=self.relay.port, password=SECRET) \
            .render_as_string(hide_password=False)
        self.apps: list = []

    def down(self) -> None:
        self.relay.down()

    def up(self) -> None:
        self.relay.up()


class SqliteOutage:
    """A SQLite database in its own directory; `down()` moves the directory away (as an unmounted
    volume would) and closes the pooled connections of the apps given, `up()` puts it back."""

    def __init__(self, folder: Path):
        self.home = folder / "data"
        self.away = folder / "data-away"
        self.home.mkdir()
        self.url = self.direct = f"sqlite:///{self.home / 'workflow.db'}"
        self.apps: list = []

    def down(self) -> None:
        os.rename(self.home, self.away)
        for app in self.apps:
            if "db" in vars(app):  # its engine exists (App.db is a cached property)
                app.db.dispose()

    def up(self) -> None:
        os.rename(self.away, self.home)
