"""Real tracking servers for the tracking tests: ``mlflow server`` and a throwaway PostgreSQL.

PostgreSQL comes from Debian's ``postgresql`` package (``make test-deps`` /
``.ci/run`` install it): a fixed path, a system ``postgres`` user to run it as
when the tests run as root (``initdb`` refuses root, whichever way it is
installed), and no download at run time. :func:`find_postgres` says why it
cannot be used, so the test skips with that reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with artifacts served by the server."""

    def __init__(self, backend_uri: str, artifacts: Path, port: int | None = None) -> None:
        self.backend_uri = backend_uri
        self.artifacts = artifacts
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = artifacts.parent / f"mlflow-server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 300) -> MlflowServer:
        mlflow = Path(sys.executable).with_name("mlflow")
        command = [
            str(mlflow), "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--backend-store-uri", self.backend_uri, "--serve-artifacts",
            "--artifacts-destination", str(self.artifacts), "--workers", "1",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job runner: starts faster
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        try:
            _wait_http(f"{self.uri}/health", self.proc, timeout)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}; log:\n{self.log.read_text()[-3000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)  # the server and its workers: its own session
            self.proc.wait(timeout=30)


def find_postgres() -> tuple[Path | None, str]:
    """Debian's PostgreSQL server binaries, or why there are none usable."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        return None, "no PostgreSQL server installed (apt-get install postgresql; `make test-deps`)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and there is no 'postgres' user to run PostgreSQL as"
        if not shutil.which("runuser"):
            return None, "running as root without runuser to drop to the 'postgres' user"
    return Path(found[-1]).parent, ""


class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1, trust auth, in ``folder``."""

    def __init__(self, bindir: Path, folder: Path) -> None:
        self.bindir = bindir
        self.data = folder / "pgdata"
        self.port = free_port()
        # psycopg2-binary (dev extra); a bare postgresql:// would pick psycopg 3
        self.uri = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> Postgres:
        self.data.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data.parent, "postgres")
            os.chmod(self.data.parent, 0o755)
            for parent in self.data.parents:
                if parent == Path("/"):
                    break
                os.chmod(parent, os.stat(parent).st_mode | 0o011)  # traversable by postgres
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "-A", "trust", "--no-sync")  # fmt: skip
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data} -F"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.data / "server.log"), "-w", "start")  # fmt: skip
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
