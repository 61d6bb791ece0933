"""What a person at the terminal sees and does during a run: the progress display and Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
import time


class InterruptFlag:
    """Turns the first SIGINT into a flag the loop checks between steps (so the state is
    never caught half-donated); a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.set = False
        self._previous = None

    def __enter__(self) -> InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.set = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Progress:
    """A tqdm bar on a terminal; otherwise a plain line at most every ``interval`` seconds."""

    def __init__(
        self,
        *,
        epoch: int,
        total_images: int,
        done_images: int,
        enabled: bool,
        interval: float = 30.0,
    ) -> None:
        self.epoch, self.total, self.done = epoch, total_images, done_images
        self.enabled, self.interval = enabled, interval
        self.start = self.last_line = time.perf_counter()
        self.start_done = done_images
        self.bar = None
        if enabled and sys.stdout.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_images,
                initial=done_images,
                unit="img",
                unit_scale=True,
                desc=f"epoch {epoch}",
                leave=False,
                dynamic_ncols=True,
            )

    def update(self, images: int) -> None:
        self.done += images
        if self.bar is not None:
            self.bar.update(images)

    def report(self, mean_loss: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
            return
        now = time.perf_counter()
        if now - self.last_line < self.interval:
            return
        self.last_line = now
        rate = (self.done - self.start_done) / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / max(rate, 1e-9)
        print(
            f"  epoch {self.epoch}: {self.done}/{self.total} images, loss {mean_loss:.4f},"
            f" {rate:.1f} images/s, ETA {eta:.0f} s",
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
