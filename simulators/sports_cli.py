"""The command line, ``python -m simulators.sports COMMAND [options]``.

Parses the arguments, connects (the password comes from the environment; the stack's
default only on loopback), runs one ``Simulator`` command and prints one summary line:
ids given on the command line and counts, never row values.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence

import pymysql

from simulators.sports_db import Conn, SimulatorError, connect, current_state
from simulators.sports_simulator import Simulator

__all__ = ["main"]


DEFAULT_PASSWORD = "cdc"
_NO_SUCH_TABLE = 1146  # ER_NO_SUCH_TABLE


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _password(env: str, host: str) -> str:
    """From the environment; the stack's default only on loopback, never for a remote host."""
    value = os.environ.get(env)
    if value is not None:
        return value
    if _is_loopback(host):
        return DEFAULT_PASSWORD
    raise SimulatorError(f"set {env}: no default password for a non-loopback host")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    db = common.add_argument_group("connection")
    db.add_argument("--host", default="127.0.0.1")
    db.add_argument("--port", type=int, default=3307)
    db.add_argument("--user", default="cdc")
    db.add_argument(
        "--password-env",
        default="SPORTS_DB_PASSWORD",
        help="environment variable holding the password (default password 'cdc' only when "
        "it is unset and the host is loopback)",
    )
    db.add_argument("--database", default="sports")
    seeded = argparse.ArgumentParser(add_help=False)
    seeded.add_argument("--seed", type=int, default=42)

    parser = argparse.ArgumentParser(
        prog="python -m simulators.sports",
        description="Simulate the sports ticketing source database (prints counts only).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "initial", parents=[common, seeded], help="create the tables, load the dimensions"
    )
    p.add_argument("--events", type=int, default=50)
    p.add_argument("--tickets-per-event", type=int, default=20)
    p.add_argument("--customers", type=int, default=500)

    p = sub.add_parser("incremental", parents=[common, seeded], help="customers buy tickets")
    p.add_argument("--rate", type=float, help="purchases per second")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--duration", type=float, help="seconds to run (needs --rate)")
    how.add_argument("--count", type=int, help="exactly this many purchases")
    p.add_argument("--new-customer-share", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=20, help="purchases per transaction")

    p = sub.add_parser("upsert", parents=[common, seeded], help="reassign a sold ticket")
    p.add_argument("--ticket-id", type=int, required=True)
    p.add_argument("--customer-id", type=int)

    p = sub.add_parser("delete", parents=[common], help="delete a ticket_activity row")
    p.add_argument("--ticket-id", type=int, required=True)

    p = sub.add_parser("customer-update", parents=[common, seeded], help="rename buyers")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--count", type=int)
    which.add_argument("--customer-id", type=int)

    p = sub.add_parser("bulk", parents=[common, seeded], help="a deterministic mix of changes")
    for name in ("inserts", "updates", "deletes", "customer-updates"):
        p.add_argument(f"--{name}", type=int, default=0)
    p.add_argument("--new-customer-share", type=float, default=0.05)

    sub.add_parser("state", parents=[common], help="row counts of the four tables")
    return parser


def _run(args: argparse.Namespace, conn: Conn) -> str:
    """Run one command; return the summary line (ids given on the command line and counts)."""

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    sim = Simulator(conn, seed=getattr(args, "seed", 42), log=log)
    command: str = args.command
    if command == "initial":
        r = sim.initial(
            events=args.events, tickets_per_event=args.tickets_per_event, customers=args.customers
        )
        return f"initial: added sport_event={r.events} ticket={r.tickets} customer={r.customers}"
    if command == "incremental":
        inc = sim.incremental(
            rate=args.rate,
            duration=args.duration,
            count=args.count,
            new_customer_share=args.new_customer_share,
            batch_size=args.batch_size,
        )
        return (
            f"incremental: {inc.purchases} purchases, {inc.new_customers} new customers"
            f" in {inc.seconds:.1f} s{' (no unsold ticket left)' if inc.exhausted else ''}"
        )
    if command == "upsert":
        sim.reassign(args.ticket_id, args.customer_id)
        return f"upsert: ticket {args.ticket_id} reassigned (1 row)"
    if command == "delete":
        sim.delete(args.ticket_id)
        return f"delete: ticket {args.ticket_id} (1 row)"
    if command == "customer-update":
        changed = sim.update_customers(count=args.count, customer_id=args.customer_id)
        return f"customer-update: {len(changed)} customers"
    if command == "bulk":
        b = sim.bulk(
            inserts=args.inserts,
            updates=args.updates,
            deletes=args.deletes,
            customer_updates=args.customer_updates,
            new_customer_share=args.new_customer_share,
        )
        return "bulk: " + " ".join(f"{k}={v}" for k, v in b.counts.items())
    state = current_state(conn)
    return "state: " + " ".join(f"{t}={len(rows)}" for t, rows in state.items())


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 on success, 2 on a bad request (unknown ticket, bad argument), 1 on a DB error."""
    args = _parser().parse_args(argv)
    try:
        password = _password(args.password_env, args.host)
        conn = connect(args.host, args.port, args.user, password, args.database)
    except SimulatorError as exc:
        print(f"sports: error: {exc}", file=sys.stderr)
        return 2
    except pymysql.MySQLError as exc:
        # Connection errors name the host and user, never data.
        print(f"sports: cannot connect to {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(_run(args, conn))
    except KeyboardInterrupt:
        # The open transaction was rolled back; committed purchases stay.
        print("sports: interrupted", file=sys.stderr)
        return 130
    except (SimulatorError, ValueError) as exc:
        print(f"sports: error: {exc}", file=sys.stderr)
        return 2
    except pymysql.MySQLError as exc:
        # Statement errors can quote row values: print the error code only.
        code = exc.args[0] if exc.args else "?"
        if code == _NO_SUCH_TABLE:
            print(
                f"sports: error: tables missing in {args.database}: run 'initial' first",
                file=sys.stderr,
            )
            return 2
        print(f"sports: database error {type(exc).__name__} {code}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0
