"""A program run in a pseudo-terminal, driven the way a person would: type a line, read the screen.

    with Terminal([*memfold_command(), "chat", "--url", url], env=env) as term:
        term.expect("Name for a new agent:")
        term.type_line("Ada")
        term.expect(r"Created Ada")

`expect` matches the output with escape sequences (colours, cursor moves) removed and moves
past each match, so consecutive expectations read the output in order. `raw` keeps the bytes
as the program wrote them, to check styles (`styles_of`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Self

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?")
_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def plain(text: str) -> str:
    """`text` without terminal escape sequences and carriage returns."""
    return _ESCAPES.sub("", text).replace("\r", "")


class Terminal:
    def __init__(
        self, argv: Sequence[str], *, env: Mapping[str, str], columns: int = 160, rows: int = 50
    ) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process = subprocess.Popen(
            list(argv), stdin=slave, stdout=slave, stderr=slave, env=dict(env), start_new_session=True
        )
        self._slave = slave  # kept open to read the line discipline's mode (see `send_eof`)
        self._master = master
        self._raw = b""
        self._position = 0
        self._closed = False

    @property
    def raw(self) -> str:
        """Everything the program wrote so far, escape sequences included."""
        return self._raw.decode(errors="replace")

    @property
    def screen(self) -> str:
        """Everything the program wrote so far, as plain text."""
        return plain(self.raw)

    def _read(self, timeout: float) -> bool:
        """Read what is available within `timeout` seconds. False once the program has exited and
        everything it wrote has been read."""
        ready, _, _ = select.select([self._master], [], [], max(timeout, 0))
        if not ready:
            return self.process.poll() is None
        try:
            data = os.read(self._master, 65536)
        except OSError:
            data = b""
        self._raw += data
        return bool(data) or self.process.poll() is None

    def expect(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """Wait until the output after the previous match matches the regular expression `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.screen, self._position)
            if found:
                self._position = found.end()
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.5)):
                found = regex.search(self.screen, self._position)
                if found:
                    self._position = found.end()
                    return found
                state = "timed out" if remaining <= 0 else "the program closed the terminal"
                tail = self.screen[self._position :][-3000:]
                raise AssertionError(f"{state} waiting for {pattern!r}; output since the last match:\n{tail}")

    def type_line(self, line: str) -> None:
        """Type `line` and press Enter."""
        os.write(self._master, line.encode() + b"\r")

    def send_eof(self, timeout: float = 5.0) -> None:
        """Ctrl-D at the start of a line.

        A program reading with GNU readline switches the terminal out of canonical mode while it
        reads; a Ctrl-D that arrives before that switch is dropped by the line discipline. So wait
        (at most `timeout` seconds) for the switch, if it comes; a program reading in canonical mode
        gets the end of file all the same."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self._slave)[3] & termios.ICANON and time.monotonic() < deadline:
            self._read(0.02)
        os.write(self._master, b"\x04")

    def wait(self, timeout: float = 20.0) -> int:
        """The exit status, reading the output meanwhile so the program never blocks on a full terminal."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        if self.process.poll() is None:
            tail = self.screen[-3000:]
            raise AssertionError(f"the program did not exit within {timeout:.0f} s; its output ends:\n{tail}")
        while self._read(0.05):
            pass
        return self.process.returncode

    def styles_of(self, text: str) -> set[str]:
        """The SGR parameters (e.g. {"1", "35"}) in force where `text` first appears in the raw output."""
        raw = self.raw
        index = raw.find(text)
        if index < 0:
            raise AssertionError(f"{text!r} is not in the raw output")
        codes: set[str] = set()
        for match in _SGR.finditer(raw, 0, index):
            params = match.group(1)
            codes = set() if params in ("", "0") else codes | set(params.split(";"))
        return codes

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
