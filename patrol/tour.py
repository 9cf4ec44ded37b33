"""Patrol tours: a PTZ camera is patrolled in rounds over its presets (pyro-engine's loop).

Each visit: go to the preset, wait for the picture to settle, analyse for the dwell time
with that preset's zones, move on. A preset that fails is logged and skipped for this
round; after ``skip_after_failures`` failures in a row it is left out for ``skip_s``.
A verification may take the camera over between (or in the middle of) visits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from camera_adapters.capabilities import PTZError, PTZMixin
from patrol.config import PresetConfig, TourConfig

log = logging.getLogger(__name__)

# When every preset is being skipped, look again this often.
IDLE_WAIT_S = 5.0


class TourTarget(Protocol):
    """What the tour drives: the camera worker."""

    ptz_lock: threading.Lock
    preempt: threading.Event

    def leave_view(self) -> None: ...
    def arrive(self, preset: str) -> None: ...


class PatrolTour:
    """One verb: ``run()`` until ``stop`` is set. ``visits`` records (preset, ok) for tests."""

    def __init__(self, target: TourTarget, ptz: PTZMixin, presets: Sequence[PresetConfig],
                 config: TourConfig, stop: threading.Event) -> None:
        self.target, self.ptz, self.presets, self.config = target, ptz, list(presets), config
        self.stop = stop
        self.failures: dict[str, int] = {}
        self.skip_until: dict[str, float] = {}
        self.visits: list[tuple[str, bool]] = []

    def run(self) -> None:
        while not self.stop.is_set():
            visited = 0
            for preset in self.presets:
                if self.stop.is_set():
                    return
                if self.skip_until.get(preset.token, 0.0) > time.monotonic():
                    continue
                visited += 1
                self.visit(preset)
            if not visited:
                self.stop.wait(IDLE_WAIT_S)

    def visit(self, preset: PresetConfig) -> bool:
        """Go, settle, dwell. False when the camera would not go there."""
        while self.target.preempt.is_set():  # a verification has the camera
            if self.stop.wait(0.2):
                return True
        with self.target.ptz_lock:
            self.target.leave_view()
            try:
                self.ptz.goto_preset(preset.token)
            except Exception as exc:  # PTZError, or a broken adapter: never ends the tour
                if not isinstance(exc, PTZError):
                    log.exception("preset %s: unexpected failure", preset.token)
                self._failed(preset, exc)
                self.stop.wait(self.config.settle_s)  # do not hammer a failing camera
                return False
            self.failures[preset.token] = 0
            self.visits.append((preset.token, True))
            if self.stop.wait(self.config.settle_s):
                return True
            self.target.arrive(preset.token)
            dwell = preset.dwell_s or self.config.dwell_s
            deadline = time.monotonic() + dwell
            while (left := deadline - time.monotonic()) > 0 and not self.stop.is_set():
                if self.target.preempt.wait(min(left, 0.5)):
                    break  # a verification wants the camera: yield now
        return True

    def _failed(self, preset: PresetConfig, exc: BaseException) -> None:
        count = self.failures.get(preset.token, 0) + 1
        self.failures[preset.token] = count
        self.visits.append((preset.token, False))
        log.warning("preset %s failed (%d in a row): %s", preset.token, count, exc)
        if count >= self.config.skip_after_failures:
            self.skip_until[preset.token] = time.monotonic() + self.config.skip_s
            log.warning("preset %s left out of the tour for %.0f s", preset.token,
                        self.config.skip_s)
