"""``python -m orderbridge.deliver``: deliver the outbox of an event store, nothing else.

A lean process for operators (drain a backlog after an outage, or run delivery apart from
the cameras) and for the crash tests, which kill it at random points::

    python -m orderbridge.deliver --database sqlite:///var/lianqin/lianqin.db \\
        --config lianqin.yaml --until-empty

``--config`` is a YAML file holding the ``bridge`` section (the whole lianqin
configuration will do: only its ``bridge`` key is read)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orderbridge.bridge import build_adapter
from orderbridge.config import BridgeConfig
from orderbridge.outbox import OutboxDelivery
from patrol.store import open_engine, session_factory

log = logging.getLogger(__name__)


def load_bridge_config(path: str | Path) -> BridgeConfig:
    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if isinstance(data, dict) and "bridge" in data:
        data = data["bridge"]
    return BridgeConfig.model_validate(data)


def deliver(database_url: str, config: BridgeConfig, *, evidence_base_url: str,
            until_empty: bool = True, max_s: float | None = None, migrate: bool = True) -> int:
    """Deliver until the outbox is empty (or forever); returns how many were delivered.
    Rows that fail for good become dead letters, as in the service."""
    engine = open_engine(database_url, migrate=migrate)
    sessions = session_factory(engine)
    adapter = build_adapter(config, default_url="http://127.0.0.1:8000/api/dispatch",
                            sessions=sessions)
    adapter.start()
    outbox = OutboxDelivery(sessions, adapter, retry=config.retry,
                            evidence_base_url=config.evidence_base_url or evidence_base_url)
    started, total = time.monotonic(), 0
    try:
        while max_s is None or time.monotonic() - started < max_s:
            delivered = outbox.deliver_due()
            total += delivered
            if until_empty and outbox.pending() == 0:
                break
            if not delivered:
                time.sleep(config.poll_interval_s)
    finally:
        adapter.close()
        engine.dispose()
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderbridge.deliver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="SQLAlchemy URL of the event store")
    parser.add_argument("--config", required=True, help="YAML with the bridge section")
    parser.add_argument("--evidence-base-url", default="http://127.0.0.1:8000/evidence",
                        help="URL prefix of the evidence files (default: %(default)s)")
    parser.add_argument("--until-empty", action="store_true",
                        help="stop when nothing is left to deliver (default: run on)")
    parser.add_argument("--max-s", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_bridge_config(args.config)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 2
    total = deliver(args.database, config, evidence_base_url=args.evidence_base_url,
                    until_empty=args.until_empty, max_s=args.max_s)
    log.info("delivered %d", total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
