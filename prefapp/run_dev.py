"""`make run`: the web server, Celery workers and beat in one terminal; Ctrl-C stops them all.

Assumes migrations and the demo data are in place (the Makefile runs them first).
"""

import os
import signal
import subprocess
import sys
import time

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def worker_command(queues: str, nodename: str, *options: str) -> list[str]:
    """`celery worker` on the given queues, one task at a time (make run, tests, benchmarks)."""
    return [
        *(sys.executable, "-m", "celery", "-A", "prefapp", "worker", "-Q", queues),
        *("--concurrency", "1", "-n", nodename, "--loglevel", "INFO", *options),
    ]


def main() -> int:
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "prefapp"]
    commands = {
        # Two workers, as in production: a training run must not hold up the light tasks
        # (lease reclaiming, dead-run detection, schedule checks).
        "worker": worker_command("default", "default@%h"),
        "training-worker": worker_command("training", "training@%h"),
        "beat": celery + ["beat", "--loglevel", "INFO"],
        "web": [python, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
    }
    # Ctrl-C, `kill` and `timeout make run` all stop the children: they run in
    # sessions of their own (a Ctrl-C reaches only this process), so stop them here on any of
    # these signals. SIGINT is set explicitly because a shell starting us in the background
    # would have us ignore it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    children = {
        name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in commands.items()
    }
    print(f"\nprefapp is running at http://{HOST}:{PORT}/  (Ctrl-C stops it)", flush=True)
    print(
        "  logins: manager / manager-demo-pass, alice / alice-demo-pass, bob / bob-demo-pass\n",
        flush=True,
    )
    try:
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        stopped = [name for name, child in children.items() if child.poll() is not None]
        print(f"{', '.join(stopped)} stopped; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        # SIGTERM to each main process only: Celery then shuts its pool down itself (a signal
        # to the whole group kills the pool under it, which it reports as an error).
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
