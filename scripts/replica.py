"""A throw-away PostgreSQL primary and a streaming read replica on this machine, for the tests
and for trying REPLICA_DATABASE_URL (docs/deploy.md, "Read replica").

    python scripts/replica.py up [--dir DIR]     # prints the two URLs; leaves both running
    python scripts/replica.py down --dir DIR     # stops both and deletes DIR

Both clusters live under one directory (a new temporary one by default), listen on free ports
on 127.0.0.1 only, trust local connections (replication included: nothing leaves the machine)
and are torn down by `down`. The replica is made the way a real one is: `pg_basebackup -R`
from the running primary, then started as a hot standby that streams its WAL. Run as root (as
CI does), the servers run as the `postgres` OS user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
PROGRAMS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
RUN_AS = "postgres"  # the OS user the servers run as when this runs as root
STATE_FILE = "pair.json"


class PairError(RuntimeError):
    """The pair could not be made (the message says which step failed)."""


@dataclass(frozen=True)
class Pair:
    """A running primary and its replica: their data directories and ports."""

    root: str
    bin_dir: str
    primary_port: int
    replica_port: int

    def url(self, which: str, database: str = "postgres") -> str:
        port = self.primary_port if which == "primary" else self.replica_port
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_dir(self) -> Path:
        return Path(self.root) / "primary"

    @property
    def replica_dir(self) -> Path:
        return Path(self.root) / "replica"


def find_bin_dir() -> str | None:
    """The folder of the PostgreSQL server programs, or None if they are not installed."""
    for folder in (os.environ.get("PG_BIN_DIR", ""), *BIN_DIRS):
        if folder and all((Path(folder) / p).is_file() for p in PROGRAMS):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(bin_dir: str, program: str, *args: str, timeout: float = 60) -> None:
    command = [str(Path(bin_dir) / program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", RUN_AS, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    if done.returncode != 0:
        raise PairError(f"{program} failed ({done.returncode}): {done.stderr.strip()[-800:]}")


def _own(path: Path) -> None:
    """Give `path` to the servers' OS user when running as root (initdb and pg_ctl refuse root)."""
    if os.geteuid() == 0:
        shutil.chown(path, RUN_AS, RUN_AS)
        path.chmod(0o700)


SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
wal_level = replica
max_wal_senders = 4
hot_standby = on
hot_standby_feedback = on
fsync = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 40
logging_collector = off
"""
HBA = """
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


def start(root: str | None = None) -> Pair:
    """Make and start a primary and a streaming replica under `root` (a new temporary folder by
    default). Returns once the replica is streaming, or raises PairError (after stopping
    whatever it had started)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PairError("the PostgreSQL server programs (initdb, pg_ctl, pg_basebackup) are not installed")
    base = Path(root or tempfile.mkdtemp(prefix="shabaka-replica-"))
    base.mkdir(parents=True, exist_ok=True)
    _own(base)
    if os.geteuid() == 0:
        base.chmod(0o755)
    pair = Pair(str(base), bin_dir, _free_port(), _free_port())
    try:
        _make(pair)
    except BaseException:
        stop(pair)
        raise
    (base / STATE_FILE).write_text(json.dumps(asdict(pair)))
    return pair


def _make(pair: Pair) -> None:
    sockets = Path(pair.root)
    _run(
        pair.bin_dir, "initdb", "-D", str(pair.primary_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
    )
    with (pair.primary_dir / "postgresql.conf").open("a") as conf:
        conf.write(SERVER_SETTINGS.format(port=pair.primary_port, sockets=sockets))
    (pair.primary_dir / "pg_hba.conf").write_text(HBA)
    _pg_ctl(pair, pair.primary_dir, "start")
    pair.replica_dir.mkdir()
    _own(pair.replica_dir)
    _run(
        pair.bin_dir,
        "pg_basebackup",
        "-h",
        "127.0.0.1",
        "-p",
        str(pair.primary_port),
        "-U",
        "postgres",
        "-D",
        str(pair.replica_dir),
        "-R",  # writes standby.signal and primary_conninfo: it starts as a streaming replica
        "-X",
        "stream",
        "--checkpoint=fast",
        "--no-sync",
    )
    with (pair.replica_dir / "postgresql.conf").open("a") as conf:
        conf.write(f"\nport = {pair.replica_port}\n")
    _pg_ctl(pair, pair.replica_dir, "start")
    wait_streaming(pair)


def _pg_ctl(pair: Pair, data_dir: Path, action: str) -> None:
    args = ["-D", str(data_dir), "-w", "-t", "30"]
    if action == "start":
        args += ["-l", str(data_dir / "server.log")]
    if action == "stop":
        args += ["-m", "fast"]
    _run(pair.bin_dir, "pg_ctl", *args, action)


def stop_replica(pair: Pair) -> None:
    """Stop the replica alone (the primary goes on): what a replica that is down looks like."""
    _pg_ctl(pair, pair.replica_dir, "stop")


def start_replica(pair: Pair) -> None:
    _pg_ctl(pair, pair.replica_dir, "start")
    wait_streaming(pair)


def wait_streaming(pair: Pair, seconds: float = 30) -> None:
    """Wait until the primary reports the replica's WAL stream as `streaming`."""
    import psycopg

    deadline = time.monotonic() + seconds
    while True:
        try:
            with psycopg.connect(pair.url("primary"), connect_timeout=2) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()
                if row and row[0] > 0:
                    return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise PairError("the replica did not start streaming from the primary")
        time.sleep(0.1)


def stop(pair: Pair) -> None:
    """Stop both servers (whichever are running) and delete their folder."""
    for data_dir in (pair.replica_dir, pair.primary_dir):
        if (data_dir / "postmaster.pid").exists():
            try:
                _pg_ctl(pair, data_dir, "stop")
            except (PairError, subprocess.TimeoutExpired) as error:
                print(f"replica.py: could not stop {data_dir}: {error}", file=sys.stderr)
    shutil.rmtree(pair.root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--dir", help="the folder of the pair (up: created if missing; down: required)")
    args = parser.parse_args(argv)
    if args.action == "up":
        pair = start(args.dir)
        print(f"primary: {pair.url('primary')}")
        print(f"replica: {pair.url('replica')}")
        print(f"stop with: python scripts/replica.py down --dir {pair.root}")
        return 0
    if not args.dir:
        parser.error("down needs --dir")
    state = Path(args.dir) / STATE_FILE
    if not state.exists():
        print(f"replica.py: no pair in {args.dir}", file=sys.stderr)
        return 1
    stop(Pair(**json.loads(state.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
