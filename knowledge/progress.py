"""A one-line progress bar on stderr for long CLI work (imports)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """``bar(done, total)`` redraws at most ten times a second, and always at the end."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(WIDTH * share)
        self._stream.write(f"\r{self._label} [{'#' * filled}{'.' * (WIDTH - filled)}]"
                           f" {done}/{total} {share:4.0%}")
        if done >= total:
            self._stream.write("\n")
        self._stream.flush()
        self.drawn = True
