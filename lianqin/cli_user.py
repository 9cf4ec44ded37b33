"""``lianqin user``: accounts of the console and the API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROLES = ("operator", "commander", "department", "admin", "service")


def _sessions(args: argparse.Namespace):  # noqa: ANN202 - a sessionmaker
    from lianqin.config import ConfigError, LianqinConfig, load_config
    from patrol.store import open_engine, session_factory

    try:
        config = load_config(args.config) if args.config else LianqinConfig()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    url = args.database or config.storage.database_url
    return session_factory(open_engine(url))


def cmd_user_add(args: argparse.Namespace) -> int:
    from api.auth.accounts import AccountError, add_user

    try:
        row, password, token = add_user(_sessions(args), name=args.name, role=args.role,
                                        unit=args.unit, password=args.password, actor="cli")
    except AccountError as exc:
        print(f"lianqin user add: {exc}", file=sys.stderr)
        return 1
    print(f"created {row.name} ({row.role}{', unit ' + row.unit if row.unit else ''})")
    if not args.password:
        print(f"password: {password}")
    print(token)  # the API token, last line (scripts take it with `tail -1`)
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from api.auth.accounts import list_users

    for row in list_users(_sessions(args)):
        state = "disabled" if row.disabled else "active"
        print(f"{row.name:20s} {row.role:10s} {row.unit or '-':20s} {state}")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    from api.auth.accounts import set_disabled

    try:
        set_disabled(_sessions(args), name=args.name, disabled=True, actor="cli")
    except KeyError:
        print(f"no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"disabled {args.name}")
    return 0


def cmd_user_token(args: argparse.Namespace) -> int:
    from api.auth.accounts import rotate_token

    try:
        print(rotate_token(_sessions(args), name=args.name, actor="cli"))
    except KeyError:
        print(f"no user {args.name!r}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="accounts of the console and the API")
    usub = user.add_subparsers(dest="user_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="take the event store from this file")
        p.add_argument("--database", help="SQLAlchemy URL of the event store (overrides --config)")

    add = usub.add_parser("add", help="create an account; prints its API token as the last line")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--unit", help="unit id of a department account (e.g. environment)")
    add.add_argument("--password", help="default: a generated one, printed once")
    common(add)
    add.set_defaults(func=cmd_user_add)
    ls = usub.add_parser("list", help="list accounts")
    common(ls)
    ls.set_defaults(func=cmd_user_list)
    dis = usub.add_parser("disable", help="disable an account (its sessions end)")
    dis.add_argument("name")
    common(dis)
    dis.set_defaults(func=cmd_user_disable)
    tok = usub.add_parser("token", help="issue a new API token (the old one stops working)")
    tok.add_argument("name")
    common(tok)
    tok.set_defaults(func=cmd_user_token)
