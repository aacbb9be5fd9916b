"""`make run`: migrate, seed the demo network if empty, then serve the web app with a Celery
worker and beat on the embedded transport. Prints the address and the demo logins; Ctrl-C
stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Path without the query string: a search by national id or phone must never reach a log.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
BIN = Path(sys.executable).parent


def gunicorn_command(port: str, access_log: str = "-") -> list[str]:
    """The web server of `make run` (the test of the access log starts exactly this)."""
    return [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "4",
        "--access-logfile",
        access_log,
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "referral:create_app()",
    ]


def main() -> int:
    env = dict(os.environ)
    env.setdefault("REFERRAL_ENV", "development")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    port = env.setdefault("PORT", "5000")
    flask = [str(BIN / "flask"), "--app", "referral"]

    def run(*args: str) -> None:
        subprocess.run([*flask, *args], cwd=ROOT, env=env, check=True)  # noqa: S603

    run("init-db")
    run("seed-demo", "--if-empty")

    procs = [
        subprocess.Popen(  # noqa: S603
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "worker",
                "--beat",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
        ),
        subprocess.Popen(gunicorn_command(port), cwd=ROOT, env=env),  # noqa: S603
    ]
    time.sleep(2)
    print(f"\nShabaka is running at http://127.0.0.1:{port}  (Ctrl-C stops it)\n", flush=True)
    print("Demo logins (each enrols an authenticator app at first sign-in):", flush=True)
    run("demo-logins")
    print(flush=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for proc in procs:
            if proc.poll() is not None:
                print(f"a process stopped unexpectedly (exit {proc.returncode}); stopping", file=sys.stderr)
                stopping, code = True, 1
        time.sleep(0.5)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    print("Shabaka stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
