"""The background supervisor (督办, standard 6.2.4): a thread that periodically flags and
escalates overdue orders and records reminders (``DispatchService.supervise_overdue``).

Example:
    >>> import tempfile
    >>> from dispatch.config import DispatchConfig
    >>> from dispatch.service import DispatchService
    >>> from dispatch.store import open_engine
    >>> engine = open_engine(f"sqlite:///{tempfile.mkdtemp()}/dispatch.db")
    >>> handle = start_supervisor(DispatchService(engine=engine, config=DispatchConfig()))
    >>> handle.wait_for_sweeps(1, timeout_s=30)
    True
    >>> handle.stop(); engine.dispose()
"""

from __future__ import annotations

import logging
import threading
import time

from dispatch.service import DispatchService

log = logging.getLogger(__name__)


class Supervisor:
    """Runs ``service.supervise_overdue()`` every ``interval_s`` until :meth:`stop`.

    A failing sweep (database down, say) is logged and tried again next period; the
    loop waits on its stop event, so stopping is prompt.
    """

    def __init__(self, service: DispatchService, *, interval_s: float) -> None:
        self.service = service
        self.interval_s = interval_s
        self.sweeps = 0  # sweeps finished, successful or not
        self.flagged = 0  # orders changed over all sweeps
        self._stop = threading.Event()
        self._swept = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="dispatch-supervisor", daemon=True)

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the loop and wait for the sweep in progress, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait_for_sweeps(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` sweeps have finished; False on timeout."""
        with self._swept:
            return self._swept.wait_for(lambda: self.sweeps >= count, timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                changed = self.service.supervise_overdue()
                self.flagged += len(changed)
                if changed:
                    log.info("supervisor: overdue orders flagged or reminded: %s", changed)
            except Exception:  # noqa: BLE001 - one bad sweep must not end supervision
                log.exception("supervisor: sweep failed; trying again next period")
            with self._swept:
                self.sweeps += 1
                self._swept.notify_all()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))


def start_supervisor(service: DispatchService, *, interval_s: float | None = None) -> Supervisor:
    """Start supervising ``service``'s orders; ``interval_s`` defaults to the configuration's
    ``supervision.interval_s``. Call ``.stop()`` on the handle at shutdown."""
    period = interval_s if interval_s is not None else service.config.supervision.interval_s
    return Supervisor(service, interval_s=period).start()
