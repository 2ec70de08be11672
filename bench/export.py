"""Export benchmark: 1,000,000 judgments in PostgreSQL, exported to JSONL and Parquet (and CSV),
beside PostgreSQL's own `COPY ... TO` of the same judgments.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/export.py

It creates (and afterwards drops) the database `prefapp_bench_export` on that server, migrates
it, bulk-loads a project with COPY (50 annotators, 250,000 pairs, 4 judgments each, with
their leases), then times each export in a fresh child process and reads the child's peak
resident memory from the kernel (`wait4` rusage). Options: --judgments N, --keep (leave the
database for another run: --reuse), --python-paths (also time the row-by-row Python paths),
--repeat N (N interleaved rounds; medians).
"""

import argparse
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "prefapp_bench_export"
EXPORT_LIBRARIES = (
    "numpy",
    "pandas",  # pyarrow loads it at its first conversion of a Python value
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.parquet",
    "polars",
    "adbc_driver_manager",
    "adbc_driver_postgresql",
)
ANNOTATORS = 50
PER_PAIR = 4


def bench_url(base: str) -> str:
    return urlunparse(urlparse(base)._replace(path=f"/{BENCH_DB}"))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prefapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_database(base: str, reuse: bool) -> bool:
    """True when a loaded database from an earlier --keep run is reused."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and reuse:
            return True
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return False


def drop_database(base: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def load(judgments: int) -> None:
    """A project with `judgments` judgments, written with COPY (seconds, not minutes)."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    rng = random.Random(0)
    pairs = judgments // PER_PAIR
    now = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        cursor.execute(
            "INSERT INTO labeling_project (name, slug, instructions, overlap, lease_minutes, "
            "allow_tie, allow_both_bad, ask_strength, ask_rationale, gold_rate, created_at) "
            "VALUES ('Bench', 'bench', '', 4, 15, true, true, true, true, 0, now()) RETURNING id"
        )
        project = cursor.fetchone()[0]
        with cursor.copy(
            "COPY auth_user (id, password, is_superuser, username, first_name, "
            "last_name, email, is_staff, is_active, date_joined) FROM STDIN"
        ) as copy:
            for user in range(1, ANNOTATORS + 1):
                copy.write_row((user, "!", False, f"annotator{user}", "", "", "", False, True, now))
        with cursor.copy(
            "COPY labeling_membership (user_id, project_id, role, excluded_from_exports) FROM STDIN"
        ) as copy:
            for user in range(1, ANNOTATORS + 1):
                copy.write_row((user, project, "annotator", False))
        with cursor.copy(
            "COPY labeling_prompt (id, project_id, external_id, messages, metadata, "
            "created_at) FROM STDIN"
        ) as copy:
            for p in range(1, pairs + 1):
                messages = json.dumps([{"role": "user", "content": f"Question {p}: explain"}])
                copy.write_row((p, project, f"q{p}", messages, "{}", now))
        with cursor.copy(
            "COPY labeling_candidate (id, prompt_id, text, source, metadata, created_at) FROM STDIN"
        ) as copy:
            for p in range(1, pairs + 1):
                copy.write_row((2 * p - 1, p, f"Answer one to {p}, " * 8, "model-a", "{}", now))
                copy.write_row((2 * p, p, f"Answer two to {p}. " * 6, "model-b", "{}", now))
        with cursor.copy(
            "COPY labeling_pair (id, project_id, prompt_id, candidate_a_id, "
            "candidate_b_id, priority, is_gold, judgment_count, taken, is_full, "
            "created_at) FROM STDIN"
        ) as copy:
            for p in range(1, pairs + 1):
                copy.write_row(
                    (
                        p,
                        project,
                        p,
                        2 * p - 1,
                        2 * p,
                        0.0,
                        p % 50 == 0,
                        PER_PAIR,
                        PER_PAIR,
                        True,
                        now,
                    )
                )
        choices = ["a"] * 45 + ["b"] * 40 + ["tie"] * 10 + ["both_bad"] * 5
        # Two passes (one COPY at a time per connection); the same seed gives the same sides.
        with cursor.copy(
            "COPY labeling_assignment (id, project_id, pair_id, annotator_id, "
            "status, left_is_a, created_at, expires_at, closed_at) FROM STDIN"
        ) as copy:
            sides = random.Random(1)
            for n, p, user in _judged(pairs):
                served = now + timedelta(seconds=n)
                copy.write_row(
                    (
                        n,
                        project,
                        p,
                        user,
                        "done",
                        sides.random() < 0.5,
                        served,
                        served + timedelta(minutes=15),
                        served,
                    )
                )
        with cursor.copy(
            "COPY labeling_judgment (id, project_id, pair_id, annotator_id, "
            "assignment_id, source, choice, strength, rationale, left_is_a, "
            "time_spent_ms, created_at) FROM STDIN"
        ) as copy:
            sides = random.Random(1)
            for n, p, user in _judged(pairs):
                copy.write_row(
                    (
                        n,
                        project,
                        p,
                        user,
                        n,
                        "annotator",
                        rng.choice(choices),
                        rng.randint(1, 3),
                        'clear, "better"\nanswer' if n % 10 == 0 else "",
                        sides.random() < 0.5,
                        rng.randint(2000, 60000),
                        now + timedelta(seconds=n + 5),
                    )
                )
        for table in (
            "auth_user",
            "labeling_prompt",
            "labeling_candidate",
            "labeling_pair",
            "labeling_assignment",
            "labeling_judgment",
        ):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
            cursor.execute(f"ANALYZE {table}")
    print(f"loaded {judgments:,} judgments in {time.perf_counter() - started:.1f} s", flush=True)


def _judged(pairs: int):
    """(judgment number, pair, annotator): PER_PAIR different annotators on every pair."""
    n = 0
    for p in range(1, pairs + 1):
        for k in range(PER_PAIR):
            n += 1
            yield n, p, (p * PER_PAIR + k) % ANNOTATORS + 1


def child(kind: str, file_format: str, path: str, python_path: bool) -> None:
    """One export, in its own process so that its peak memory is its own."""
    from labeling.formats.exports import ExportOptions
    from labeling.models import Project
    from labeling.services.exporting import export_rows, export_to_path, export_write

    project = Project.objects.get(slug="bench")
    options = ExportOptions(kind=kind, file_format=file_format)
    # A worker that has exported before has the export's libraries loaded; the first export
    # in a process loads them (reported apart, as "load s").
    started = time.perf_counter()
    for module in EXPORT_LIBRARIES:
        importlib.import_module(module)
    loading, load_cpu = time.perf_counter() - started, time.process_time()
    started = time.perf_counter()
    if python_path:  # the row-by-row path SQLite uses, and TRL rows use everywhere
        with open(path, "w", encoding="utf-8") as fileobj:
            rows = export_write(rows=export_rows(project=project, options=options), fileobj=fileobj)
    else:
        rows = export_to_path(project=project, options=options, path=Path(path))
    result = {"rows": rows, "seconds": time.perf_counter() - started, "load": loading}
    print(json.dumps({**result, "load_cpu": load_cpu}))


def measure(label: str, args: list[str], url: str) -> dict:
    env = {**os.environ, "DATABASE_URL": url}
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", *args], env=env, stdout=subprocess.PIPE, text=True
    )
    output = process.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{label} failed")
    result = json.loads(output.strip().splitlines()[-1])
    result.update(
        label=label,
        peak_mb=usage.ru_maxrss / 1024,
        cpu=usage.ru_utime + usage.ru_stime - result["load_cpu"],
        size_mb=os.path.getsize(args[2]) / 1e6 if os.path.isfile(args[2]) else 0.0,
    )
    return result


def copy_baseline(directory: str) -> dict:
    """PostgreSQL writing the same judgments to a file itself (server side), and the same
    through the client protocol into a file here."""
    from django.db import connection

    target = os.path.join(directory, "copy.txt")
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(f"COPY labeling_judgment TO '{target}'")
        server = time.perf_counter() - started
        rows = cursor.cursor.rowcount
        started = time.perf_counter()
        with (
            open(os.path.join(directory, "copy-stdout.txt"), "wb") as fileobj,
            cursor.cursor.copy("COPY labeling_judgment TO STDOUT") as copy,
        ):
            for chunk in copy:
                fileobj.write(chunk)
        client = time.perf_counter() - started
        # The SELECT the JSONL and Parquet exports stream (the judgment columns with the
        # export's filters, in id order), written by the server as plain text.
        from labeling.formats.exports import ExportFilters
        from labeling.models import Project
        from labeling.selectors_export import judgments_for_export
        from labeling.services.export_copy import STREAMED_COLUMNS

        query = (
            judgments_for_export(project=Project.objects.get(slug="bench"), filters=ExportFilters())
            .order_by("id")
            .values_list(*STREAMED_COLUMNS)
            .query
        )
        select = cursor.cursor.mogrify(*query.sql_with_params())
        started = time.perf_counter()
        cursor.execute(f"COPY ({select}) TO '{os.path.join(directory, 'select.txt')}'")
        same_select = time.perf_counter() - started
    return {"rows": rows, "server": server, "client": client, "select": same_select}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept bench database")
    parser.add_argument("--python-paths", action="store_true")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every measurement; medians (peak memory: the largest)",
    )
    parser.add_argument("--child", nargs=4, metavar=("KIND", "FORMAT", "PATH", "PYTHON"))
    args = parser.parse_args()
    if args.child:
        setup_django(os.environ["DATABASE_URL"])
        kind, file_format, path, python_path = args.child
        child(kind, file_format, path, python_path == "1")
        return

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    url = bench_url(base)
    reused = create_database(base, args.reuse)
    setup_django(url)
    try:
        if not reused:
            load(args.judgments)
        # The export's directory must be writable by the PostgreSQL server too (COPY TO file).
        with tempfile.TemporaryDirectory(prefix="prefapp-bench-") as tmp:
            os.chmod(tmp, 0o777)
            runs = [
                ("judgments → JSONL", ["judgments", "jsonl", f"{tmp}/j.jsonl", "0"]),
                ("judgments → Parquet", ["judgments", "parquet", f"{tmp}/j.parquet", "0"]),
                ("judgments → CSV", ["judgments", "csv", f"{tmp}/j.csv", "0"]),
            ]
            if args.python_paths:
                runs += [
                    (
                        "judgments → JSONL, Python rows",
                        ["judgments", "jsonl", f"{tmp}/p.jsonl", "1"],
                    ),
                    ("TRL rows → JSONL, Python rows", ["trl", "jsonl", f"{tmp}/t.jsonl", "1"]),
                ]
            # Interleaved rounds, medians: the machine may be shared, its load changes.
            copies, rounds = [], []
            for _ in range(args.repeat):
                copies.append(copy_baseline(tmp))
                rounds.append([measure(label, run, url) for label, run in runs])
            copy = {key: statistics.median(c[key] for c in copies) for key in copies[0]}
            results = [
                {
                    **runs_of[0],
                    "seconds": statistics.median(r["seconds"] for r in runs_of),
                    "load": statistics.median(r["load"] for r in runs_of),
                    "cpu": statistics.median(r["cpu"] for r in runs_of),
                    "peak_mb": max(r["peak_mb"] for r in runs_of),
                }
                for runs_of in zip(*rounds, strict=True)
            ]
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(base)

    print(f"\nmedians of {args.repeat} round(s); load average {os.getloadavg()[0]:.1f}")
    print(
        f"{copy['rows']:,.0f} judgments; PostgreSQL COPY TO file (server): "
        f"{copy['server']:.2f} s ({copy['rows'] / copy['server']:,.0f} rows/s); "
        f"COPY TO STDOUT into a file: {copy['client']:.2f} s; "
        f"COPY of the export's SELECT TO file: {copy['select']:.2f} s"
    )
    print(
        f"{'export':34} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'× COPY':>7} "
        f"{'× SELECT':>9} {'CPU s':>6} {'peak MB':>8} {'file MB':>8} {'load s':>7}"
    )
    for r in results:
        print(
            f"{r['label']:34} {r['rows']:>10,} {r['seconds']:>8.2f} "
            f"{r['rows'] / r['seconds']:>10,.0f} {r['seconds'] / copy['server']:>7.2f} "
            f"{r['seconds'] / copy['select']:>9.2f} {r['cpu']:>6.2f} {r['peak_mb']:>8.0f} "
            f"{r['size_mb']:>8.0f} "
            f"{r['load']:>7.2f}"
        )


if __name__ == "__main__":
    main()
