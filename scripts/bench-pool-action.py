"""Pool action on a 5,000-desktop pool: acceptance latency and end-to-end rate.

    cargo build --release
    .venv/bin/python scripts/bench-pool-action.py [target/release/deskplane]

Starts the server on a throw-away SQLite database (simulator durations 0, pool size
limit raised), creates the pool, then runs ten alternating os-stop/os-start HARD pool
actions; each is timed to its answer (accepted) and to its job's SUCCESS. Requests are
signed by the official SDK's signer (tests/sdk/harness/raw.py). Loopback only.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "sdk"))
from harness.raw import RawClient  # noqa: E402

PROJECT = "b3c4be7c0000000000000000000bec4d"
AK = "BENCHAKDESKPLANE0001"
SK = "BenchSecretKeyForAThrowAwayDatabase00001"
PRODUCT = "workspace.x86.general.xlarge2"
IMAGE = "63aa8670-27ad-4747-8c44-6d8919e785a7"
SIZE = 5000
ACTIONS = 10
PORT = 18093


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "deskplane")
    data = tempfile.mkdtemp(prefix="deskplane-pool-bench-")
    env = dict(
        os.environ,
        DESKPLANE_LISTEN=f"127.0.0.1:{PORT}",
        DESKPLANE_DATABASE_URL=f"sqlite://{data}/pool.db",
        DESKPLANE_DATA_DIR=data,
        DESKPLANE_BOOTSTRAP__PROJECT_ID=PROJECT,
        DESKPLANE_BOOTSTRAP__ACCESS_KEY=AK,
        DESKPLANE_BOOTSTRAP__SECRET_KEY=SK,
        DESKPLANE_LIMITS__MAX_POOL_SIZE=str(SIZE),
        DESKPLANE_LOG="warn",
    )
    for op in ["CREATE", "START", "STOP", "REBOOT", "HIBERNATE", "REBUILD", "LOGOFF", "DELETE"]:
        env[f"DESKPLANE_SIM__{op}_MS"] = "0"
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL)
    client = RawClient(f"http://127.0.0.1:{PORT}", AK, SK, PROJECT, timeout=120)
    try:
        wait_ready(client)
        run(client, data)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def wait_ready(client: RawClient) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            client.request("GET", "/desktop-pools")
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not answer within 30 s")


def wait_job(client: RawClient, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.request("GET", f"/workspace-jobs/{job_id}").json()
        if job["status"] in ("SUCCESS", "FAILED"):
            return job
        time.sleep(0.02)
    raise SystemExit(f"job {job_id} did not end within {timeout} s")


def run(client: RawClient, data: str) -> None:
    body = {"name": "bench", "type": "DYNAMIC", "size": SIZE, "product_id": PRODUCT,
            "image_id": IMAGE, "image_type": "gold"}
    r = client.request("POST", "/desktop-pools", body)
    assert r.status_code in (200, 201, 202), r.text
    assert wait_job(client, r.json()["job_id"])["status"] == "SUCCESS"
    pool = client.request("GET", "/desktop-pools", query=[("name", "bench")]).json()["desktop_pools"][0]["id"]
    accepted, rates = [], []
    for n in range(ACTIONS):
        op = "os-stop" if n % 2 == 0 else "os-start"
        started = time.perf_counter()
        r = client.request("POST", f"/desktop-pools/{pool}/action", {"op_type": op, "type": "HARD"})
        accepted.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, r.text
        job = wait_job(client, r.json()["job_id"])
        assert job["status"] == "SUCCESS", job
        rates.append(SIZE / (time.perf_counter() - started))
        wal = Path(data, "pool.db-wal")
        wal_mb = wal.stat().st_size / 1e6 if wal.exists() else 0.0
        print(f"{op:8} accepted in {accepted[-1]:6.1f} ms, done at {rates[-1]:6.0f} ops/s; WAL {wal_mb:.1f} MB")
    print(f"pool action on {SIZE} desktops: accepted median {statistics.median(accepted):.1f} ms "
          f"(target < 100 ms); end to end median {statistics.median(rates):.0f} ops/s (target >= 5000)")


if __name__ == "__main__":
    main()
