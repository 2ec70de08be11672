"""Load benchmark of labelling: simulated annotators against the app under gunicorn.

    python bench/labeling_load.py --annotators 50 --pairs 50000 --seconds 30 --db postgres
    python bench/labeling_load.py --mode scale --annotators 10 --seconds 20   # 10k vs 1M pairs
    python bench/labeling_load.py --mode rescore --annotators 50 --pairs 100000  # with/without

It creates a throwaway database (PostgreSQL: `prefapp_bench_labeling` on the server of
--pg-admin-url, dropped at the end; SQLite: the default file database in a temporary
PREFAPP_VAR_DIR), migrates it, bulk-creates a project, starts gunicorn on 127.0.0.1, logs every
annotator in over HTTP (one session each), and lets each loop "get next pair -> submit a
judgment" for --seconds. It prints judgments per second and p50/p95/p99 latency per request
kind, then checks on the database that every judgment the clients were told was stored is
there, that nothing else is, and that no pair has more than `overlap` judgments.

Request kinds (--flow split, the default): `next` is the htmx GET of the work partial, which
leases the next pair; `submit` is the plain form POST, which records the judgment and answers
with a redirect. --flow htmx submits as the browser page does: the POST's answer is the next
pair, so each judgment is one request (`submit+next`). --flow api drives the JSON API as a
custom front end would: a personal token per annotator (no login), `POST .../labelling/next`
for the lease and `POST .../labelling/submit` with an `Idempotency-Key`.

See bench/README.md for the numbers measured on the development machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _annotators import Stats, annotate, annotate_api, log_in
from _http import Browser

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# Never the development database or a test database (--bench-db names another bench database).
BENCH_DB = "prefapp_bench_labeling"


# ---------------------------------------------------------------- the database and the server


@contextlib.contextmanager
def bench_environment(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """Environment for the app's processes, pointing at a database made for this run only."""
    if args.reuse_db:
        var_dir = Path(tempfile.gettempdir()) / "prefapp-bench-reused"
        var_dir.mkdir(exist_ok=True)
    else:
        var_dir = Path(tempfile.mkdtemp(prefix="prefapp-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "PREFAPP_VAR_DIR": str(var_dir),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
        }
    )
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    admin = None
    try:
        if args.db == "postgres":
            import psycopg

            admin = psycopg.connect(args.pg_admin_url, autocommit=True)
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [args.bench_db]
            ).fetchone()
            if not (args.reuse_db and exists):
                admin.execute(f"DROP DATABASE IF EXISTS {args.bench_db} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {args.bench_db}")
            base = args.pg_admin_url.rsplit("/", 1)[0]
            env["DATABASE_URL"] = f"{base}/{args.bench_db}"
        _run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env)
        # DEBUG is off (as in production), so pages need the collected static manifest.
        _run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], env)
        yield env
    finally:
        if admin is not None and not (args.keep_db or args.reuse_db):
            admin.execute(f"DROP DATABASE IF EXISTS {args.bench_db} WITH (FORCE)")
        if admin is not None:
            admin.close()
        if not (args.keep_db or args.reuse_db):
            shutil.rmtree(var_dir, ignore_errors=True)


def _run(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def setup(env: dict[str, str], *args: str) -> dict:
    out = _run([PYTHON, "bench/labeling_setup.py", *args], env)
    return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int, threads: int) -> Iterator[tuple[int, int]]:
    """The app under gunicorn on a free loopback port; yields (port, pid)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "prefapp.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            "60",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(300):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if server.poll() is not None:
                raise SystemExit("gunicorn exited while starting")
            time.sleep(0.1)
        yield port, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _database_cpu(args: argparse.Namespace) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the bench database (none for SQLite)."""
    if args.db != "postgres":
        return {}
    import psycopg

    with psycopg.connect(args.pg_admin_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [args.bench_db]
        ).fetchall()
    return {pid: _cpu_seconds(pid, children=False) for (pid,) in rows}


def _cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU of a process and its children (gunicorn's workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    with contextlib.suppress(OSError):
        if not children:
            raise OSError
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def load(
    port: int, server_pid: int, seeded: dict, args: argparse.Namespace, stats: Stats
) -> dict[str, float]:
    """Log everyone in, then run the annotators for args.seconds; returns seconds and CPU used.

    CPU is counted from after the logins: each hashes a password, slow on purpose.
    """
    browsers = {name: Browser("127.0.0.1", port) for name in seeded["users"]}
    gate = asyncio.Semaphore(4)  # logins hash a password each: not part of the measurement

    async def guarded_login(name: str) -> None:
        async with gate:
            await log_in(browsers[name], name, seeded["password"])

    async def warm_up(name: str) -> None:
        # The API's clients send a token instead of logging in; one unmeasured read each opens
        # the connection and loads the API's modules in the workers, as the logins do.
        token = {"Authorization": f"Bearer {seeded['tokens'][name]}"}
        async with gate:
            await browsers[name].get(f"/api/v1/projects/{seeded['slug']}", token)

    login_or_warm = warm_up if args.flow == "api" else guarded_login
    await asyncio.gather(*(login_or_warm(name) for name in browsers))
    server_cpu, client_cpu, db_cpu = _cpu_seconds(server_pid), _own_cpu(), _database_cpu(args)
    start = time.perf_counter() + 0.2
    deadline = start + args.seconds
    await asyncio.gather(
        *(
            annotate_api(
                browser,
                slug=seeded["slug"],
                user_id=seeded["users"][name],
                token=seeded["tokens"][name],
                start=start,
                deadline=deadline,
                stats=stats,
                rng=random.Random(name),
            )
            if args.flow == "api"
            else annotate(
                browser,
                slug=seeded["slug"],
                user_id=seeded["users"][name],
                flow=args.flow,
                start=start,
                deadline=deadline,
                stats=stats,
                rng=random.Random(name),
            )
            for name, browser in browsers.items()
        )
    )
    measured = time.perf_counter() - start
    used = {
        "seconds": measured,
        "window": (time.time() - measured, time.time()),
        "server_cpu": _cpu_seconds(server_pid) - server_cpu,
        "client_cpu": _own_cpu() - client_cpu,
        "db_cpu": sum(cpu - db_cpu.get(pid, 0.0) for pid, cpu in _database_cpu(args).items()),
    }
    for browser in browsers.values():
        await browser.close()
    return used


# ---------------------------------------------------------------- reports


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(stats: Stats, seconds: float, extra: dict) -> dict:
    summary = {
        "judgments": len(stats.successes),
        "seconds": round(seconds, 1),
        "judgments_per_s": round(len(stats.successes) / seconds, 1),
        "refused": len(stats.refusals),
        "no_work": stats.no_work,
        "errors": len(stats.errors),
        **extra,
        "requests": {},
    }
    print(
        f"  judgments/s: {summary['judgments_per_s']}  ({summary['judgments']} in "
        f"{summary['seconds']} s, {summary['refused']} refused, {len(stats.errors)} errors)"
    )
    for kind, values in stats.latencies.items():
        row = {
            q: round(1000 * percentile(values, p), 1)
            for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        }
        row.update(count=len(values), statuses=stats.statuses[kind])
        summary["requests"][kind] = row
        print(
            f"  {kind:>12}: n={len(values):6d}  p50 {row['p50']:7.1f} ms  p95 {row['p95']:7.1f} "
            f"ms  p99 {row['p99']:7.1f} ms  max {row['max']:7.1f} ms  {stats.statuses[kind]}"
        )
    for error in stats.errors[:5]:
        print("  error:", error)
    return summary


@contextlib.contextmanager
def rescoring(env: dict[str, str], slug: str, on: bool) -> Iterator[list[dict]]:
    """While on: a process rewriting every open pair's prediction and priority, round after
    round (bench/labeling_setup.py rescore); yields the rounds it reported, filled at exit."""
    rounds: list[dict] = []
    if not on:
        yield rounds
        return
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(
            [PYTHON, "bench/labeling_setup.py", "rescore", "--slug", slug],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield rounds
        finally:
            child.terminate()
            child.wait()
            out.seek(0)
            for line in out:
                with contextlib.suppress(ValueError):
                    rounds.append(json.loads(line))


def run_once(
    env: dict[str, str], args: argparse.Namespace, *, pairs: int, slug: str, rescore: bool = False
) -> dict:
    seeded = setup(
        env,
        "seed",
        "--slug",
        slug,
        "--pairs",
        str(pairs),
        "--annotators",
        str(args.annotators),
        "--overlap",
        str(args.overlap),
    )
    print(
        f"seeded {seeded['pairs']:,} pairs and {len(seeded['users'])} annotators in "
        f"{seeded['seed_seconds']} s"
    )
    stats = Stats()
    since = datetime.now(UTC).isoformat()
    with (
        gunicorn(env, workers=args.workers, threads=args.threads) as (port, pid),
        rescoring(env, slug, rescore) as rounds,
    ):
        used = asyncio.run(load(port, pid, seeded, args, stats))
    measured, server_cpu, client_cpu = used["seconds"], used["server_cpu"], used["client_cpu"]
    db_cpu = used["db_cpu"]
    print(
        f"{args.db}, {args.annotators} annotators, {seeded['pairs']:,} pairs, flow "
        f"{args.flow}, gunicorn {args.workers}x{args.threads} threads, load "
        f"{os.getloadavg()[0]:.2f}"
    )
    summary = report(
        stats,
        measured,
        {
            "db": args.db,
            "annotators": args.annotators,
            "pairs": seeded["pairs"],
            "flow": args.flow,
            "workers": args.workers,
            "threads": args.threads,
            "server_cpu_s": round(server_cpu, 1),
            "client_cpu_s": round(client_cpu, 1),
            "database_cpu_s": round(db_cpu, 1),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        },
    )
    if rescore:
        done = [r for r in rounds if "rows_written" in r]
        low, high = used["window"]
        during = sum(r["rows"] for r in rounds if low <= r.get("batch_at", 0) <= high)
        print(
            f"  rescoring meanwhile: {during:,} pair rows written during the measurement "
            f"({len(done)} rounds of all open pairs finished"
            + (f", {statistics.median([r['seconds'] for r in done]):.1f} s each)" if done else ")")
        )
        summary.update(rescoring=True, rescore_rounds=done, rescored_rows_during=during)
    requests = sum(len(v) for v in stats.latencies.values())
    print(
        f"  CPU: server {server_cpu:.1f} s ({1000 * server_cpu / max(requests, 1):.1f} ms per "
        f"request), PostgreSQL {db_cpu:.1f} s, load generator {client_cpu:.1f} s, of "
        f"{os.cpu_count() * measured:.0f} core-seconds"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as answers:
        json.dump(
            {"successes": stats.successes, "refusals": stats.refusals, "since": since}, answers
        )
    try:
        checked = setup(env, "check", "--slug", slug, "--answers", answers.name)
    finally:
        os.unlink(answers.name)
    ok = not checked["problems"] and not stats.errors
    print(
        f"  invariants: {'OK' if ok else 'BROKEN'} ({checked['judgments']} judgments stored, "
        f"leases {checked['assignments']})"
    )
    for problem in checked["problems"][:20]:
        print("   ", problem)
    summary.update(invariants_ok=ok, problems=checked["problems"][:20])
    return summary


def _compare_sizes(results: list[dict]) -> None:
    """'next' latency per project size, over all rounds, relative to the smallest size."""
    by_size: dict[int, list[dict]] = {}
    for result in results:
        by_size.setdefault(result["pairs"], []).append(result)
    rows = {}
    for size, runs in sorted(by_size.items()):
        rows[size] = {
            q: statistics.median(r["requests"]["next"][q] for r in runs) for q in ("p50", "p95")
        }
    smallest = min(rows)
    for size, row in rows.items():
        print(
            f"'next' at {size:>9,} pairs: p50 {row['p50']:6.1f} ms, p95 {row['p95']:6.1f} ms "
            f"(median of {len(by_size[size])} runs; x{row['p50'] / rows[smallest]['p50']:.2f} "
            f"and x{row['p95'] / rows[smallest]['p95']:.2f} of {smallest:,} pairs)"
        )


def _compare_rescoring(results: list[dict]) -> None:
    """'next' p95 with and without a rescoring process, medians over the rounds."""
    p95 = {
        on: statistics.median(
            r["requests"]["next"]["p95"] for r in results if bool(r.get("rescoring")) == on
        )
        for on in (False, True)
    }
    print(
        f"'next' p95: {p95[False]:.1f} ms without rescoring, {p95[True]:.1f} ms while the open "
        f"pairs are rescored (x{p95[True] / p95[False]:.2f}; medians of "
        f"{len(results) // 2} rounds each)"
    )


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mode",
        choices=["load", "scale", "rescore"],
        default="load",
        help="load: one run; scale: 'next' latency at --scale-pairs sizes; rescore: "
        "'next' latency with and without the open pairs being rescored meanwhile",
    )
    parser.add_argument("--annotators", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument(
        "--scale-pairs",
        default="10000,1000000",
        help="comma-separated project sizes for --mode scale",
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--overlap", type=int, default=3, help="judgments wanted per pair")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="gunicorn worker processes (one per core measured best here)",
    )
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--flow", choices=["split", "htmx", "api"], default="split")
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL allowed to create and drop the bench database",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", os.environ.get("REDIS_URL", "")),
        help="Redis for the app's cache, as in production (PostgreSQL runs only; sessions "
        "are in the database either way); empty: the local-memory cache",
    )
    parser.add_argument(
        "--bench-db", default=BENCH_DB, help="name of the PostgreSQL database made for the run"
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database")
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep the bench database and reuse its projects (no reseeding)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="--mode scale: alternate the sizes this many times, so that load "
        "from other processes on the machine falls on both alike",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.db == "sqlite":
        args.redis_url = ""  # the embedded default: no servers at all
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")

    results = []
    with bench_environment(args) as env:
        if args.mode == "load":
            results.append(run_once(env, args, pairs=args.pairs, slug="bench"))
        elif args.mode == "rescore":
            for _round in range(args.rounds):
                for on in (False, True):
                    results.append(run_once(env, args, pairs=args.pairs, slug="bench", rescore=on))
            _compare_rescoring(results)
        else:
            sizes = [int(size) for size in args.scale_pairs.split(",")]
            for _round in range(args.rounds):
                for n, size in enumerate(sizes):
                    results.append(run_once(env, args, pairs=size, slug=f"bench-{n}"))
            _compare_sizes(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(r["invariants_ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
