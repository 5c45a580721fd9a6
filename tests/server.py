"""The real `andelstal serve` as a subprocess on loopback, for tests of what only a real server shows:
the order of commit and answer, and crashes (kill -9) between them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ANDELSTAL = [sys.executable, "-m", "service.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process on a database URL; `start`, `kill` (SIGKILL) and `start` again keep the database."""

    def __init__(self, database_url: str, workdir: Path, workers: int = 1) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.env = {**os.environ, "ANDELSTAL_ENV": "test", "ANDELSTAL_SECRET": "test-" + uuid.uuid4().hex * 2,
                    "ANDELSTAL_DATA_DIR": str(workdir / "data"), "ANDELSTAL_SOLVE_WORKERS": str(workers)}
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def token(self, role: str = "agency", county: str | None = None) -> str:
        """A token from the real `andelstal tokens create` on the server's database (its last line)."""
        command = [*ANDELSTAL, "tokens", "create", "--role", role, "--database-url", self.database_url]
        if county:
            command += ["--county", county]
        done = subprocess.run(command, env=self.env, cwd=self.workdir, capture_output=True, text=True, check=True)
        return done.stdout.strip().splitlines()[-1]

    def start(self) -> None:
        # a free port can be taken by another process (a test's own servers, Dask's workers) between the moment it
        # is found and the bind: the server then ends at once saying so, and another port is tried
        for _ in range(5):
            if self._start_on(free_port()):
                return
        raise RuntimeError(f"no free port could be bound:\n{(self.workdir / 'server.log').read_text()}")

    def _start_on(self, port: int) -> bool:
        self.port = port
        log_path = self.workdir / "server.log"
        before = log_path.stat().st_size if log_path.exists() else 0
        log = open(log_path, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen([*ANDELSTAL, "serve", "--quiet", "--port", str(self.port), "--database-url",
                                         self.database_url], env=self.env, cwd=self.workdir, stdout=log,
                                        stderr=subprocess.STDOUT)
        log.close()
        # readiness is polled, not timed: the loop ends when the server answers or its process ends
        strangers = 0  # answers from a server that is not this one (it took the port first)
        while True:
            if self.process.poll() is not None:
                said = log_path.read_bytes()[before:].decode(errors="replace")
                if "address already in use" in said:
                    return False
                raise RuntimeError(f"the server ended at start:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=60).status_code == 200:
                    if self._mine(log_path, before):
                        return True
                    strangers += 1
                    if strangers == 200:  # another server holds the port: this one cannot have it
                        self.kill()
                        return False
            except httpx.TransportError:
                pass
            time.sleep(0.05)

    def _mine(self, log_path: Path, before: int) -> bool:
        """Whether the server answering on the port is this one (and not another that took the port): only this
        one accepts the development token it printed, which its own secret derives."""
        printed = [line for line in log_path.read_bytes()[before:].decode(errors="replace").splitlines()
                   if line.startswith("andel_")]
        if not printed:
            return False
        answer = httpx.get(f"{self.url}/v1/counties", headers={"Authorization": f"Bearer {printed[-1]}"}, timeout=60)
        return answer.status_code == 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None
