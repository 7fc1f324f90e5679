"""The ``supporthub`` command line. Errors are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from hub import business_hours
from hub.config import ConfigError, Settings, load_settings
from hub.model import Role

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("supporthub")


class CliError(Exception):
    """A problem the user can fix; printed as one line."""


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    settings = load_settings(database_url=getattr(args, "db", None), **extra)
    # a mistake in the business hours stops every command with one line
    business_hours.configured(settings.business_hours, settings.timezone, settings.holidays)
    return settings


def _with_store(
    settings: Settings, work: Callable[..., Awaitable[int]], migrate: bool | None = None
) -> int:
    """Run ``work(store)`` on an open store. By default the store migrates only if its engine
    does so by itself (SQLite); on PostgreSQL that is ``supporthub db migrate``'s job."""
    from hub.store import StoreError, make_store

    async def run() -> int:
        store = make_store(settings.database_url)
        await store.open(migrate=store.auto_migrate if migrate is None else migrate)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        raise CliError(str(exc)) from None


# serve -------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bots.sdk_logging import quiet_sdk_loggers
    from bots.sink import sink_from_env
    from hub.app import Channel, create_app
    from hub.store import StoreError

    settings = _settings(args, host=args.host, port=args.port, demo=args.demo or None)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_sdk_loggers(settings.log_level)
    app = create_app(settings, channels=cast("list[Channel]", sink_from_env()))
    base = f"http://{settings.host}:{settings.port}"

    async def banner(app: web.Application) -> None:
        print(
            f"supporthub is running on {base} (database: {settings.database_url})\n"
            f"  customers: {base}/chat   (embed: <script src=\"{base}/widget.js\" async>)\n"
            f"  agents:    {base}/console\n"
            f"  admins:    {base}/admin   (knowledge base; {base}/admin/agents for agents)\n"
            f"  API:       {base}/api/openapi.json\n"
            "Create logins with:  supporthub user add you@example.com --role agent\n"
            "                     supporthub user add boss@example.com --role admin\n"
            "Press Ctrl+C to stop.",
            flush=True,
        )

    app.on_startup.append(banner)
    app.on_startup.append(_freeze_startup_objects)
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None,
                    access_log=None, handle_signals=True)
    except StoreError as exc:  # unreachable database, or a schema to migrate first
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}")\
            from None
    return 0


async def _freeze_startup_objects(app: web.Application) -> None:
    """Move what start-up made (SDKs, the API document, schemas, the knowledge base…) out
    of the cyclic collector's reach (``gc.freeze``): its full passes scanned all of it and
    stalled the event loop 50–90 ms each, the hub's worst acknowledgement times under load
    (issue #16). Only ``serve`` does this: objects frozen are never collected, which suits a
    process that keeps them for its life."""
    gc.collect()
    gc.freeze()


# users --------------------------------------------------------------------------
def cmd_user_add(args: argparse.Namespace) -> int:
    from hub.auth import hash_password
    from hub.store import Conflict, Store

    email = args.email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise CliError(f"{args.email!r} is not an email address")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {email}: ")
        if password != getpass.getpass("Again: "):
            raise CliError("the passwords differ")
    if len(password) < 8:
        raise CliError("the password must have at least 8 characters")
    name = args.name or email.split("@")[0]

    async def work(store: Store) -> int:
        try:
            user = await store.create_user(email, name, Role(args.role),
                                           await hash_password(password))
        except Conflict as exc:
            raise CliError(str(exc)) from None
        print(f"created {user.role.value} {user.email} (id {user.id})")
        return 0

    return _with_store(_settings(args), work)


# knowledge ------------------------------------------------------------------------
DEFAULT_EVAL_DATASET = "../shared/datasets/clinc150/data_full.json"


def cmd_kb_import(args: argparse.Namespace) -> int:
    """All or nothing: every article is validated before one transaction writes them. With
    ``--update``, a row with an ``id`` replaces that article; the others are added."""
    from hub.store import Store
    from knowledge.importer import ArticleImportError, import_summary, load_rows, write_import
    from knowledge.progress import ProgressBar

    path = Path(args.file)
    if not path.exists():
        raise CliError(f"{path}: no such file or folder")
    bar = ProgressBar("reading") if args.progress or sys.stderr.isatty() else None
    try:
        rows = load_rows(path, bar, ids=args.update)
    except ArticleImportError as exc:
        raise CliError(f"{path}: {exc}; nothing was imported") from None

    async def work(store: Store) -> int:
        from hub.relay import announce_knowledge_changed
        from hub.store.base_kb import CLI_IMPORT

        if bar is not None:
            print(f"writing {len(rows)} articles…", file=sys.stderr, flush=True)
        try:
            changes = await write_import(store, rows, author=CLI_IMPORT)
        except ArticleImportError as exc:
            raise CliError(f"{path}: {exc}; nothing was imported") from None
        counts = import_summary(changes)
        if counts["added"] or counts["updated"]:
            await announce_knowledge_changed(store)  # running hubs on PostgreSQL reload
        summary = ", ".join(f"{n} {action}" for action, n in counts.items())
        print(f"imported {len(changes)} articles from {path}: {summary}")
        return 0

    return _with_store(_settings(args), work)


def cmd_kb_export(args: argparse.Namespace) -> int:
    from hub.store import Store
    from knowledge.exporter import export_path, export_text

    path = Path(args.file)
    if args.file != "-" and path.suffix.lower() not in (".json", ".csv") and path.exists() \
            and (not path.is_dir() or any(path.iterdir())):
        raise CliError(f"{path}: the Markdown folder must be new or empty")

    async def work(store: Store) -> int:
        articles = await store.list_articles()
        if args.file == "-":
            sys.stdout.write(export_text(articles, args.format or "json"))
            return 0
        kind = await asyncio.to_thread(export_path, articles, path)
        print(f"exported {len(articles)} articles to {path} ({kind})", file=sys.stderr)
        return 0

    return _with_store(_settings(args), work)


def cmd_kb_eval(args: argparse.Namespace) -> int:
    from knowledge.eval_report import table
    from knowledge.evaluation import evaluate
    from knowledge.matcher import Thresholds

    dataset = Path(args.dataset)
    if not dataset.is_file():
        raise CliError(f"{dataset}: no such dataset (see --dataset)")
    settings = _settings(args)
    defaults = Thresholds()
    thresholds = Thresholds(
        answer=settings.kb_answer_threshold or defaults.answer,
        suggest=settings.kb_suggest_threshold or defaults.suggest,
        margin=defaults.margin,
    )
    splits = (args.split, f"oos_{args.split}")
    ks = args.k or [10, 100]
    results = {k: evaluate(dataset, k, thresholds, limit=args.limit, splits=splits)
               for k in ks}
    print(f"{dataset.name}: {args.split} + oos_{args.split}, thresholds answer "
          f"{thresholds.answer:g} / suggest {thresholds.suggest:g} / margin {thresholds.margin:g}")
    print(table(results))
    return 0


def add_kb_commands(commands: Any, with_db: Callable[[Any], Any]) -> None:
    kb = commands.add_parser("kb", help="the knowledge base")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    kb_import = with_db(kb_commands.add_parser(
        "import", help="import articles: .json, .csv or a folder of .md files (all or nothing)"))
    kb_import.add_argument("file")
    kb_import.add_argument("--progress", action="store_true",
                           help="show a progress bar on stderr even when it is not a terminal")
    kb_import.add_argument("--update", action="store_true",
                           help="a row with an 'id' (as exported) replaces that article;"
                                " rows without one are added")
    kb_import.set_defaults(func=cmd_kb_import)
    kb_export = with_db(kb_commands.add_parser(
        "export", help="export every article: FILE.json, FILE.csv, a folder (Markdown), or -"))
    kb_export.add_argument("file")
    kb_export.add_argument("--format", choices=("json", "csv"),
                           help="the format written to standard output with '-'")
    kb_export.set_defaults(func=cmd_kb_export)
    kb_eval = kb_commands.add_parser(
        "eval", help="measure the matcher on CLINC150 (an intent dataset in its layout)")
    kb_eval.add_argument("--dataset", default=DEFAULT_EVAL_DATASET,
                         help=f"the dataset JSON (default {DEFAULT_EVAL_DATASET})")
    kb_eval.add_argument("--k", type=int, action="append",
                         help="phrasings per article (repeatable; default 10 and 100)")
    kb_eval.add_argument("--limit", type=int, help="ask at most N queries (spread evenly)")
    kb_eval.add_argument("--split", choices=("test", "val"), default="test",
                         help="tune on val, report on test (default)")
    kb_eval.set_defaults(func=cmd_kb_eval)


# database ---------------------------------------------------------------------------
def cmd_db_migrate(args: argparse.Namespace) -> int:
    from hub.store import Store

    async def work(store: Store) -> int:
        print(f"schema is at version {await store.migrate()} ({store.url})")
        return 0

    return _with_store(_settings(args), work, migrate=True)


def cmd_db_requeue(args: argparse.Namespace) -> int:
    from hub.store import Store

    async def work(store: Store) -> int:
        if args.list:
            rows = await store.set_aside_rows()
            for row in rows:
                accepted = datetime.fromtimestamp(row.accepted_at, UTC).isoformat(
                    timespec="seconds")
                text = " ".join(row.text.split())
                print(f"{row.id}\t{accepted}\t{row.channel}\t{row.chat}\t"
                      f"{text[:60]}\t{row.error}")
            print(f"{len(rows)} set-aside messages ({store.url})")
            return 0
        if args.ids:  # every id must be set aside, or nothing moves
            known = {row.id for row in await store.set_aside_rows(limit=None)}
            unknown = sorted(set(args.ids) - known)
            if unknown:
                print(f"supporthub: no set-aside message {unknown[0]} (see"
                      " 'supporthub db requeue --list'); nothing was put back",
                      file=sys.stderr)
                return 2
        moved = await store.requeue_set_aside(sorted(set(args.ids)) or None)
        print(f"put {moved} set-aside messages back into the intake journal ({store.url});"
              " a running hub takes them in within seconds, else at its start")
        return 0

    return _with_store(_settings(args), work)


def cmd_db_copy(args: argparse.Namespace) -> int:
    from hub.db_copy import copy_database
    from hub.store import StoreError
    from hub.store.postgres_url import parse_pg_url

    try:
        counts = asyncio.run(copy_database(args.source, args.target))
    except StoreError as exc:
        raise CliError(str(exc)) from None
    total = sum(counts.values())
    detail = ", ".join(f"{table} {n}" for table, n in counts.items() if n)
    where = parse_pg_url(args.target).display  # no password in the output
    print(f"copied {total} rows from {args.source} to {where}"
          + (f" ({detail})" if detail else ""))
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# channels: telegram ---------------------------------------------------------------
def cmd_telegram_set_webhook(args: argparse.Namespace) -> int:
    from bots.telegram import register_webhook

    settings = _settings(args)
    try:
        url = asyncio.run(register_webhook(settings, drop_pending=args.drop_pending_updates))
    except Exception as exc:  # the SDK's errors (bad token, unreachable API) are one line
        raise CliError(f"could not set the Telegram webhook: {exc}") from None
    print(f"Telegram now delivers updates to {url} (with the secret token header)")
    return 0


def add_telegram_commands(commands: Any) -> None:
    telegram = commands.add_parser("telegram", help="the Telegram bot")
    telegram_commands = telegram.add_subparsers(dest="telegram_command", required=True)
    hook = telegram_commands.add_parser(
        "set-webhook", help="register SUPPORTHUB_PUBLIC_URL/webhooks/telegram with Telegram")
    hook.add_argument("--drop-pending-updates", action="store_true",
                      help="discard updates Telegram queued while no webhook was set")
    hook.set_defaults(func=cmd_telegram_set_webhook)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="supporthub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", help="database URL (default: SUPPORTHUB_DATABASE_URL or "
                                    "sqlite:///supporthub.db)")
        return p

    serve = with_db(commands.add_parser("serve", help="run the hub"))
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--demo", action="store_true",
                       help="load the demo knowledge base if the knowledge base is empty")
    serve.set_defaults(func=cmd_serve)

    user = commands.add_parser("user", help="manage agents and admins")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = with_db(user_commands.add_parser("add", help="create an agent or admin"))
    add.add_argument("email")
    add.add_argument("--role", choices=[r.value for r in Role], default="agent")
    add.add_argument("--name", help="display name (default: the email's local part)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input instead of prompting")
    add.set_defaults(func=cmd_user_add)

    add_kb_commands(commands, with_db)

    db = commands.add_parser("db", help="the database")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    migrate = with_db(db_commands.add_parser("migrate", help="apply the schema"))
    migrate.set_defaults(func=cmd_db_migrate)
    requeue = with_db(db_commands.add_parser(
        "requeue", help="put webhook messages set aside by the intake back into its journal"))
    requeue.add_argument("ids", nargs="*", type=int,
                         help="only these set-aside messages (default: all of them)")
    requeue.add_argument("--list", action="store_true",
                         help="list the set-aside messages and why; move nothing")
    requeue.set_defaults(func=cmd_db_requeue)

    add_telegram_commands(commands)
    copy = db_commands.add_parser(
        "copy", help="copy every row of one database into another, empty one (keeping ids)")
    copy.add_argument("--from", dest="source", required=True, metavar="URL",
                      help="the database to read (e.g. sqlite:///supporthub.db)")
    copy.add_argument("--to", dest="target", required=True, metavar="URL",
                      help="the database to fill; it is migrated first and must be empty"
                           " (e.g. postgresql://user@host:5432/db)")
    copy.set_defaults(func=cmd_db_copy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except (CliError, ConfigError, ValueError) as exc:
        print(f"supporthub: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback to the user; the log level can show one
        logging.getLogger("supporthub").debug("unexpected error", exc_info=True)
        print(f"supporthub: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
