"""Run the dispatch core as its own process: ``python -m dispatch --database URL``."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
import yaml

from dispatch.app import create_app
from dispatch.config import DispatchConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dispatch", description=__doc__)
    parser.add_argument(
        "--database",
        default="sqlite:///var/dispatch.db",
        help="SQLAlchemy URL: sqlite:///path/file.db or postgresql+psycopg://user@host/db",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="YAML file holding the dispatch section (DispatchConfig); defaults otherwise",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    raw = yaml.safe_load(args.config.read_text(encoding="utf-8")) if args.config else None
    config = DispatchConfig.model_validate(raw or {})
    uvicorn.run(create_app(config, args.database), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
