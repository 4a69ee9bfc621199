"""A real `deskplane serve` process on a free loopback port, in its own temp dir.

The binary is $DESKPLANE_BIN (scripts/test.sh sets it to the debug build). Its log
(stdout and stderr, where tracing writes) goes to a file rather than a pipe:
a pipe nobody drains would block the server once its buffer fills.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Fixed bootstrap identity of the main test project (formats the server checks:
# 32 hex digits, 20 upper-case alphanumerics, 40 alphanumerics).
PROJECT_ID = "5e1f0c3a9b7d4e2f8a6c1b0d3e5f7a9c"
ACCESS_KEY = "DPTESTAK0SDK00000001"
SECRET_KEY = "dptestSecretKey0sdk0conformance0suite000"

# Simulated durations: short so the suite is fast, non-zero so a desktop is
# visibly busy while its operation runs. A SOFT stop/reboot ignored by the
# guest waits soft_timeout_ms of *simulated* time: tests release it by moving
# the simulated clock, never by waiting a minute.
SIM_TIMINGS = {
    "CREATE_MS": "150",
    "START_MS": "60",
    "STOP_MS": "60",
    "REBOOT_MS": "60",
    "HIBERNATE_MS": "60",
    "REBUILD_MS": "120",
    "LOGOFF_MS": "40",
    "DELETE_MS": "60",
    "SOFT_TIMEOUT_MS": "60000",
}

_LISTENING = re.compile(r"deskplane: listening on (http://127\.0\.0\.1:\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ServerError(RuntimeError):
    """The server did not start or did not stop as it should."""


def binary() -> Path:
    """The deskplane binary to test: $DESKPLANE_BIN, else the debug build."""
    explicit = os.environ.get("DESKPLANE_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "deskplane"


@dataclass
class Server:
    """One running server."""

    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "deskplane.log"

    def env(self) -> dict[str, str]:
        """The environment `serve` (and the CLI, on the same database) runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DESKPLANE_")}
        env.update(
            {
                "DESKPLANE_LISTEN": "127.0.0.1:0",
                "DESKPLANE_DATABASE_URL": f"sqlite://{self.workdir}/d.db",
                "DESKPLANE_DATA_DIR": str(self.workdir),
                "DESKPLANE_BOOTSTRAP__PROJECT_ID": PROJECT_ID,
                "DESKPLANE_BOOTSTRAP__ACCESS_KEY": ACCESS_KEY,
                "DESKPLANE_BOOTSTRAP__SECRET_KEY": SECRET_KEY,
                "DESKPLANE_LOG": "info",
                # A test that fails while an operation is held must not make
                # the graceful stop at the end of the session wait long.
                "DESKPLANE_JOBS__SHUTDOWN_GRACE_SECS": "5",
            }
        )
        env.update({f"DESKPLANE_SIM__{k}": v for k, v in SIM_TIMINGS.items()})
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> None:
        exe = binary()
        if not exe.is_file():
            raise ServerError(f"{exe} does not exist: run `cargo build` first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Appended, so a restart on the same database keeps the earlier run's log.
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(exe), "serve"],
                env=self.env(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = _LISTENING.search(self.log_path.read_bytes()[offset:].decode(errors="replace"))
            if m:
                self.url = m.group(1)
                return
            if self.proc.poll() is not None:
                raise ServerError(f"deskplane exited with {self.proc.returncode} before listening:\n{self.log()}")
            time.sleep(0.05)
        self.kill()
        raise ServerError(f"deskplane did not listen within {timeout}s:\n{self.log()}")

    def cli(self, *args: str, timeout: float = 30.0) -> str:
        """Run `deskplane ARGS` against this server's database; its stdout."""
        done = subprocess.run(
            [str(binary()), *args],
            env=self.env(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise ServerError(f"deskplane {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self, level: str) -> list[str]:
        """Log lines at `level` (ERROR, WARN ...), without terminal colours."""
        plain = (_ANSI.sub("", line) for line in self.log().splitlines())
        return [line for line in plain if re.search(rf"\b{level}\b", line[:45])]

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait (bounded) for the graceful exit; its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError(f"deskplane ignored SIGTERM for {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
