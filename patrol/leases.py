"""Camera leases in PostgreSQL: which worker patrols which camera.

Every worker runs :meth:`LeaseManager.step` each ``heartbeat_s``:

1. it renews its row in ``scale_workers`` (live while ``expires_at`` is in the future);
2. it counts the live workers and takes its fair share, ``ceil(cameras / live workers)``;
3. it renews the leases it holds, gives back those above its share once their cameras
   have stopped (a worker joined: the load spreads) and claims free or expired ones below
   it (a worker died: its cameras are taken over once their leases expire,
   ``lease_ttl_s``).

Claims use ``FOR UPDATE SKIP LOCKED``, so workers never wait on one another and no camera
is claimed twice; every claim bumps the lease's ``epoch`` (a fencing token). Times are the
database's own clock (``now()``), so workers' clocks may disagree. A worker that cannot
renew for ``lease_ttl_s`` stops its cameras itself (see ``lianqin.worker``), before
another worker can take them over.

A camera with presets (a patrol tour) is one lease: the tour runs where the camera is.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Engine, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from patrol.tables import Base

log = logging.getLogger(__name__)


class WorkerRow(Base):
    """A worker process, live while ``expires_at`` is ahead of the database clock."""

    __tablename__ = "scale_workers"

    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    cameras: Mapped[int] = mapped_column(Integer, default=0)
    endpoint: Mapped[str | None] = mapped_column(String(256), default=None)  # /metrics URL


class CameraLeaseRow(Base):
    """Who patrols a camera, until when, and what it last reported."""

    __tablename__ = "camera_leases"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    worker_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    acquired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    epoch: Mapped[int] = mapped_column(Integer, default=0)  # +1 per claim: a fencing token
    analysed: Mapped[int] = mapped_column(Integer, default=0)  # frames, by the holder
    last_analysed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                              default=None)


@dataclass(frozen=True, slots=True)
class LeaseStep:
    """What one heartbeat decided."""

    held: frozenset[str]  # the cameras to run (held and not being released)
    claimed: frozenset[str]
    released: frozenset[str]
    lost: frozenset[str]
    live_workers: int
    share: int


def fair_share(cameras: int, live_workers: int) -> int:
    """``ceil(cameras / live_workers)``: the most cameras one worker should hold."""
    return math.ceil(cameras / max(live_workers, 1))


class LeaseManager:
    """The leases of one worker. One verb: ``step()`` (call it every ``heartbeat_s``).

    ``step`` never waits for cameras: leases above the fair share are only *marked* for
    release (``releasing``; still renewed meanwhile); the worker stops those cameras and
    then calls ``release(cameras)``, so no camera is ever patrolled by two workers.
    ``progress()`` returns, per held camera, ``(frames analysed, UNIX time of the last
    analysis)`` to record with the renewal (what operators and the tests read to see that
    a camera is patrolled).
    """

    def __init__(self, engine: Engine, worker_id: str, camera_ids: Iterable[str], *,
                 ttl_s: float = 10.0, endpoint: str | None = None,
                 progress: Callable[[], dict[str, tuple[int, float | None]]] | None = None
                 ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("camera leases need PostgreSQL (storage.database_url "
                             "postgresql+psycopg://...); SQLite serves one box only")
        self.engine = engine
        self.worker_id = worker_id
        self.camera_ids = sorted(set(camera_ids))
        self.ttl_s = ttl_s
        self.endpoint = endpoint
        self.progress = progress or dict
        self.held: set[str] = set()
        self.releasing: set[str] = set()
        self._lock = threading.Lock()
        self._seeded = False

    @property
    def wanted(self) -> set[str]:
        """The cameras this worker should run now."""
        with self._lock:
            return self.held - self.releasing

    def _seed(self, conn: Any) -> None:
        """Lease rows for every configured camera (free until claimed)."""
        conn.execute(text("INSERT INTO camera_leases (camera_id, epoch, analysed) "
                          "SELECT c, 0, 0 FROM unnest(CAST(:ids AS text[])) AS c "
                          "ON CONFLICT (camera_id) DO NOTHING"), {"ids": self.camera_ids})
        self._seeded = True

    def step(self) -> LeaseStep:
        ttl = {"ttl": f"{self.ttl_s} seconds", "me": self.worker_id}
        with self.engine.begin() as conn:
            if not self._seeded:
                self._seed(conn)
            conn.execute(text(
                "INSERT INTO scale_workers (worker_id, started_at, heartbeat_at, expires_at, "
                "cameras, endpoint) VALUES (:me, now(), now(), now() + CAST(:ttl AS interval), "
                ":n, :endpoint) ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now(), "
                "expires_at = excluded.expires_at, cameras = excluded.cameras, "
                "endpoint = excluded.endpoint"), {**ttl, "n": len(self.wanted),
                                                  "endpoint": self.endpoint})
            live = conn.execute(text(
                "SELECT count(*) FROM scale_workers WHERE expires_at > now()")).scalar_one()
            # renewal and progress in one statement: each held row is written once
            cams, counts, stamps = self._progress_arrays()
            held = set(conn.execute(text(
                "UPDATE camera_leases AS l SET expires_at = now() + CAST(:ttl AS interval), "
                "analysed = COALESCE(p.n, l.analysed), "
                "last_analysed_at = COALESCE(to_timestamp(p.ts), l.last_analysed_at) "
                "FROM camera_leases AS h LEFT JOIN unnest(CAST(:cams AS text[]), "
                "CAST(:counts AS integer[]), CAST(:stamps AS double precision[])) "
                "AS p(cam, n, ts) ON p.cam = h.camera_id "
                "WHERE l.camera_id = h.camera_id AND l.worker_id = :me "
                "AND l.camera_id = ANY(CAST(:ids AS text[])) RETURNING l.camera_id"),
                {**ttl, "ids": self.camera_ids, "cams": cams, "counts": counts,
                 "stamps": stamps}).scalars())
        with self._lock:
            lost = self.held - held
            self.releasing &= held
        if lost:
            names = sorted(lost)
            log.warning("%d leases lost to other workers (not renewed in time): %s%s",
                        len(names), ", ".join(names[:10]), " ..." if len(names) > 10 else "")
        share = fair_share(len(self.camera_ids), live)
        keep = held - self.releasing
        released: set[str] = set()
        if len(keep) > share:
            released = set(sorted(keep)[share:])
            keep -= released
        claimed: set[str] = set()
        if len(keep) < share and not self.releasing:
            with self.engine.begin() as conn:
                claimed = set(conn.execute(text(
                    "UPDATE camera_leases SET worker_id = :me, acquired_at = now(), "
                    "expires_at = now() + CAST(:ttl AS interval), epoch = epoch + 1 "
                    "WHERE camera_id IN (SELECT camera_id FROM camera_leases "
                    "  WHERE (worker_id IS NULL OR expires_at < now()) "
                    "  AND camera_id = ANY(CAST(:ids AS text[])) "
                    "  ORDER BY worker_id IS NOT NULL, camera_id LIMIT :n "
                    "  FOR UPDATE SKIP LOCKED) RETURNING camera_id"),
                    {**ttl, "ids": self.camera_ids, "n": share - len(keep)}).scalars())
        with self._lock:
            self.held = held | claimed
            self.releasing |= released
        if claimed or released:
            log.info("worker %s: %d live workers, share %d: claimed %d, releasing %d, runs %d",
                     self.worker_id, live, share, len(claimed), len(released),
                     len(self.wanted))
        return LeaseStep(frozenset(self.wanted), frozenset(claimed), frozenset(released),
                         frozenset(lost), live, share)

    def release(self, camera_ids: set[str]) -> None:
        """Give leases back (after their cameras have stopped)."""
        if not camera_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(text(
                "UPDATE camera_leases SET worker_id = NULL, expires_at = now() "
                "WHERE worker_id = :me AND camera_id = ANY(CAST(:ids AS text[]))"),
                {"me": self.worker_id, "ids": sorted(camera_ids)})
        with self._lock:
            self.held -= camera_ids
            self.releasing -= camera_ids

    def _progress_arrays(self) -> tuple[list[str], list[int], list[float]]:
        rows = [(cam, n, ts) for cam, (n, ts) in sorted(self.progress().items())
                if ts is not None]
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    def forget(self) -> None:
        """Hold nothing (the renewals failed too long: the leases may be others' now)."""
        with self._lock:
            self.held, self.releasing = set(), set()

    def release_all(self) -> None:
        """Give every lease back and leave the worker table (a clean shutdown)."""
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE camera_leases SET worker_id = NULL, expires_at = now() "
                              "WHERE worker_id = :me"), {"me": self.worker_id})
            conn.execute(text("DELETE FROM scale_workers WHERE worker_id = :me"),
                         {"me": self.worker_id})
        with self._lock:
            self.held, self.releasing = set(), set()


def lease_table(engine: Engine) -> list[dict[str, Any]]:
    """Every camera's lease, for operators and tests."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT camera_id, worker_id, expires_at, epoch, analysed, last_analysed_at, "
            "expires_at > now() AS live FROM camera_leases ORDER BY camera_id")).mappings()
        return [dict(r) for r in rows]


def prune_workers(engine: Engine, older_than_s: float = 3600) -> int:
    """Forget workers that have not beaten for ``older_than_s`` (central, now and then)."""
    with engine.begin() as conn:
        return conn.execute(text(
            "DELETE FROM scale_workers WHERE expires_at < now() - CAST(:age AS interval)"),
            {"age": f"{older_than_s} seconds"}).rowcount
