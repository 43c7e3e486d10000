"""A progress bar on stderr: ``rich`` when installed, else one plain line per task."""
from __future__ import annotations

import sys
import time


class _Plain:
    def __init__(self, total, enabled):
        self.total, self.done, self.enabled = total, 0, enabled
        self.t0 = time.perf_counter()

    def advance(self, description):
        self.done += 1
        if self.enabled:
            elapsed = time.perf_counter() - self.t0
            print(f"[{self.done:>3}/{self.total}] {elapsed:6.1f}s  {description}",
                  file=sys.stderr, flush=True)

    def close(self):
        pass


class _Rich:
    def __init__(self, total):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        self.progress = Progress(TextColumn("{task.description:<40}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
        self.progress.start()
        self.task = self.progress.add_task("starting", total=total)
        self.started = False

    def advance(self, description):
        # the bar counts finished tasks; the description names the one now running
        if self.started:
            self.progress.advance(self.task)
        self.started = True
        self.progress.update(self.task, description=description)

    def close(self):
        self.progress.stop()


def make(total, enabled=True):
    if enabled and sys.stderr.isatty():
        try:
            return _Rich(total)
        except ImportError:
            pass
    return _Plain(total, enabled)
