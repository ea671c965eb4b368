"""The `klankbord` command (also `python -m klankbord`).

Secrets never come from the command line (they would sit in shell history and `ps`):
passwords are read from the environment or asked for without echo.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

from klankbord import database, keys
from klankbord.errors import ConfigurationError, DomainError
from klankbord.settings import Settings

PASSWORD_PROBLEMS = {
    "password.too_short": "the password needs at least 12 characters",
    "password.too_long": "the password may have at most 256 characters",
    "password.too_guessable": "the password is too easy to guess: choose a longer, uncommon one",
}


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


async def _with_engine(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    previous = keys.use_key_provider(keys.key_provider(settings))
    engine = database.use_engine(database.make_engine(settings.database_url))
    await database.open_engine(engine)
    try:
        return await work()
    finally:
        await database.close_engine(engine)
        keys.use_key_provider(previous)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from klankbord.migrations import migrate

    asyncio.run(migrate(settings, quiet=args.quiet))
    _out("migrations applied")
    return 0


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from klankbord import demo

    if settings.is_production:
        raise ConfigurationError("demo data is never seeded in production")

    async def work() -> int:
        summary = await demo.seed_demo()
        base = f"http://{settings.host}:{settings.port}"
        _out("Demo bureau " + ("created" if summary.created else "already present") + ".")
        _out(f"Staff sign-in (password for all: {demo.DEMO_PASSWORD}):")
        for email, name, role in summary.users:
            _out(f"  {role:<22} {email:<32} {name}")
        _out("Intake links:")
        for organisation, procedure, path in summary.links:
            _out(f"  {organisation:<24} {procedure:<20} {base}{path}")
        return 0

    return asyncio.run(_with_engine(settings, work))


def cmd_create_bureau(settings: Settings, args: argparse.Namespace) -> int:
    from klankbord.tenancy import system_context
    from tenants import services

    async def work() -> int:
        bureau_id = await services.create_bureau(
            system_context("cli.create-bureau"), name=args.name
        )
        _out(str(bureau_id))
        return 0

    return asyncio.run(_with_engine(settings, work))


def _password(*personal_words: str) -> str:
    from klankbord.passwords import password_problem

    password = os.environ.get("KLANKBORD_ADMIN_PASSWORD") or getpass.getpass("Password: ")
    problem = password_problem(password, personal_words)
    if problem is not None:
        raise ConfigurationError(PASSWORD_PROBLEMS[problem])
    return password


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from klankbord.tenancy import system_context
    from tenants import services

    password = _password(args.email, args.name)

    async def work() -> int:
        ctx = system_context("cli.create-admin")
        bureau_id = None
        if not args.platform_operator:
            bureau_id = await services.find_bureau(ctx, name=args.bureau or "")
            if bureau_id is None:
                raise ConfigurationError("no bureau with that name (create-bureau first)")
        user_id = await services.create_staff_user(
            ctx,
            bureau_id=bureau_id,
            email=args.email,
            display_name=args.name,
            password=password,
            bureau_admin=not args.platform_operator,
            platform_operator=args.platform_operator,
        )
        _out(str(user_id))
        return 0

    return asyncio.run(_with_engine(settings, work))


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from klankbord import audit
    from klankbord.tenancy import system_context, tenant_transaction

    async def work() -> int:
        ctx = system_context("cli.audit-verify")
        async with tenant_transaction(ctx):
            checked, problems = await audit.verify(ctx)
        for problem in problems:
            _out(f"BROKEN chain={problem.chain} seq={problem.seq}: {problem.problem}")
        _out(f"{checked} events checked, {len(problems)} problems")
        return 1 if problems else 0

    return asyncio.run(_with_engine(settings, work))


def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> int:
        provider = keys.current_key_provider()
        # Moving from the local KEK to KMS: the local ring can still unwrap the old rows.
        local = keys.local_key_provider(settings)
        previous = local if settings.key_provider == "kms" and local.path.exists() else None
        rotation = await keys.rotate_kek(provider, new_local_kek=not args.resume, previous=previous)
        _out(f"key-encryption key in use: {rotation.key_id}")
        _out(
            f"{rotation.rewrapped} data keys re-wrapped, {rotation.already_current} already"
            f" current, {rotation.unreadable} unreadable"
        )
        if rotation.unreadable:
            _out("unreadable: wrapped under a key-encryption key this installation lacks")
            return 1
        if args.retire_old:
            _out(f"{await keys.retire_old_keks(provider)} old local key files deleted")
        return 0

    return asyncio.run(_with_engine(settings, work))


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from klankbord import jobs
    from klankbord.web import create_app

    # Development ticks the jobs in the web process (`make run`); elsewhere a scheduler runs
    # `klankbord jobs run`, so that several web replicas don't all do the same work.
    ticking = jobs.TICK_SECONDS if settings.environment == "development" else None
    uvicorn.run(
        create_app(settings, jobs_every=ticking),
        host=args.host or settings.host,
        port=args.port or settings.port,
        access_log=False,  # it would log client addresses
        proxy_headers=False,
        server_header=False,
        log_config=None,
    )
    return 0


def cmd_jobs_run(settings: Settings, args: argparse.Namespace) -> int:
    from klankbord import jobs
    from klankbord.logs import configure_logging

    configure_logging(settings)

    async def once() -> int:
        outcomes = await jobs.run_all(settings)
        for outcome in outcomes:
            _out(f"{outcome.job}: {'FAILED ' if outcome.failed else ''}{outcome.summary}")
        return 1 if any(outcome.failed for outcome in outcomes) else 0

    async def loop() -> int:
        # SIGTERM (Kubernetes, systemd) and Ctrl-C end the loop between runs, not mid-mail.
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(signal_number, stop.set)
        await jobs.run_forever(settings, every=args.loop, stop=stop)
        return 0

    return asyncio.run(_with_engine(settings, loop if args.loop else once))


def cmd_db_provision(settings: Settings, args: argparse.Namespace) -> int:
    from klankbord.provision import provision_from_env

    asyncio.run(provision_from_env())
    _out("database and roles ready")
    return 0


def _positive_seconds(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError("a number of seconds above 0")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="klankbord")
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--quiet", action="store_true")
    migrate.set_defaults(run=cmd_migrate)

    commands.add_parser("seed-demo", help="create the demo bureau").set_defaults(run=cmd_seed_demo)

    bureau = commands.add_parser("create-bureau", help="create a bureau")
    bureau.add_argument("name")
    bureau.set_defaults(run=cmd_create_bureau)

    admin = commands.add_parser(
        "create-admin",
        help="create a bureau admin (or --platform-operator); password from "
        "KLANKBORD_ADMIN_PASSWORD or a prompt",
    )
    admin.add_argument("--bureau", help="the bureau's name")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", required=True)
    admin.add_argument("--platform-operator", action="store_true")
    admin.set_defaults(run=cmd_create_admin)

    audit_cmd = commands.add_parser("audit", help="audit log tools")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="check every hash chain").set_defaults(run=cmd_audit_verify)

    keys_cmd = commands.add_parser("keys", help="data-key tools")
    keys_sub = keys_cmd.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser(
        "rotate",
        help="rotate the key-encryption key: re-wrap every organisation's data key (sealed"
        " content is not re-encrypted); exit 1 if some data key could not be unwrapped",
        description="Local keys: makes a new key-encryption key (the old ones stay in"
        " <data dir>/keys) and re-wraps every data key with it. KMS: set KLANKBORD_KMS_KEY_ID"
        " to the new KMS key first; data keys wrapped under another key are re-wrapped to it"
        " (AWS's own automatic rotation of a KMS key needs no re-wrap). Safe to run again"
        " after an interruption. Restart the app afterwards: running processes keep wrapping"
        " new organisations' keys with the key they started with (--resume re-wraps those).",
    )
    rotate.add_argument(
        "--resume",
        action="store_true",
        help="make no new local key: only re-wrap what an interrupted rotation left",
    )
    rotate.add_argument(
        "--retire-old",
        action="store_true",
        help="afterwards delete the old local key-encryption key files. Backups of the"
        " database made before the rotation can only be read with them: copy them to where"
        " those backups are kept first, or leave this off until the backups have expired",
    )
    rotate.set_defaults(run=cmd_keys_rotate)

    serve = commands.add_parser("serve", help="serve the web app")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=cmd_serve)

    jobs = commands.add_parser("jobs", help="background jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_run = jobs_sub.add_parser(
        "run", help="run every job once (mail outbox first); exit 1 if one failed"
    )
    jobs_run.add_argument(
        "--loop",
        type=_positive_seconds,
        metavar="SECONDS",
        help="keep going: run them all again SECONDS after each run, until SIGTERM",
    )
    jobs_run.set_defaults(run=cmd_jobs_run)

    provision = commands.add_parser(
        "db-provision", help="create the PostgreSQL database, owner and app roles (infra/db)"
    )
    provision.set_defaults(run=cmd_db_provision)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("PICCOLO_CONF", "klankbord.piccolo_conf")
    try:
        settings = Settings.from_env()
        return int(args.run(settings, args))
    except (ConfigurationError, DomainError) as error:
        sys.stderr.write(f"klankbord: {error}\n")
        return 2
