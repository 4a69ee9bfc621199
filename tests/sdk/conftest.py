"""Fixtures of the official-SDK conformance suite.

One release `deskplane serve` runs for the whole session (fresh SQLite in a temp
dir, fixed bootstrap credentials, short simulated durations); tests share it
and so use unique names (`names`) and look only at their own desktops. Test
modules that need a differently configured server start one with `start_server`.
A failing test's report carries the tail of every server log.
"""

from __future__ import annotations

import json
import os
import tempfile

# The SDK writes ~/.huaweicloud/application_id the first time a client is built
# (huaweicloudsdkcore/http/user_agent.py): keep it out of the real home. This
# must happen before the SDK is imported below.
os.environ["HOME"] = tempfile.mkdtemp(prefix="deskplane-sdk-home-")

import pytest  # noqa: E402

from harness import desktops as desktop_helpers  # noqa: E402
from harness.raw import RawClient  # noqa: E402
from harness.sdk import client  # noqa: E402
from harness.server import ACCESS_KEY, PROJECT_ID, SECRET_KEY, Server  # noqa: E402
from harness.sim import SimApi  # noqa: E402

# A second project, with its own credential made by `deskplane credentials create`.
OTHER_PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

_servers: list[Server] = []


@pytest.fixture(scope="session")
def start_server(tmp_path_factory):
    """Start a server with extra DESKPLANE_* settings; every one is stopped
    (SIGTERM) at the end of the session, must exit 0, and must have logged no
    ERROR (a 5xx, a store failure, a failed shutdown) during the whole session."""
    started: list[Server] = []

    def start(name: str, **extra_env: str) -> Server:
        s = Server(workdir=tmp_path_factory.mktemp(name), extra_env=extra_env)
        _servers.append(s)
        started.append(s)
        s.start()
        return s

    yield start
    failures = []
    for s in started:
        code = s.stop()
        if code != 0:
            failures.append(f"{s.workdir}: exit {code}\n{s.log_tail()}")
        errors = s.log_lines("ERROR")
        if errors:
            failures.append(f"{s.log_path}: {len(errors)} ERROR lines, first:\n" + "\n".join(errors[:10]))
    assert not failures, "a server did not stop cleanly:\n" + "\n".join(failures)


@pytest.fixture(scope="session")
def server(start_server) -> Server:
    """The shared server."""
    return start_server("deskplane")


@pytest.fixture(scope="session")
def sdk(server):
    """A WorkspaceClient of the main project, as a user builds one."""
    return client(server.url, ACCESS_KEY, SECRET_KEY, PROJECT_ID)


@pytest.fixture(scope="session")
def other_credentials(server) -> dict:
    """{project_id, access_key, secret_key} of a second project on the same
    database, made with the CLI while the server runs."""
    out = server.cli("credentials", "create", "--project", OTHER_PROJECT_ID, "--json")
    creds = json.loads(out)
    assert creds["project_id"] == OTHER_PROJECT_ID
    return creds


@pytest.fixture(scope="session")
def other_sdk(server, other_credentials):
    """A WorkspaceClient of the second project."""
    c = other_credentials
    return client(server.url, c["access_key"], c["secret_key"], c["project_id"])


@pytest.fixture(scope="session")
def sim(server) -> SimApi:
    """The shared server's /sim/v1."""
    return SimApi(server.url)


@pytest.fixture(scope="session")
def raw(server) -> RawClient:
    """SDK-signed raw requests of the main project."""
    return RawClient(server.url, ACCESS_KEY, SECRET_KEY, PROJECT_ID)


@pytest.fixture(scope="session")
def names() -> desktop_helpers.Names:
    """Unique computer and user names for the whole session."""
    return desktop_helpers.Names()


@pytest.fixture
def make_desktops(sdk, names):
    """`make_desktops(n, users=True)`: n new ACTIVE desktops of the main
    project (ids, in request order)."""

    def make(n: int = 1, users: bool = True) -> list[str]:
        return desktop_helpers.create(sdk, names, n, users=users)

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for s in _servers:
            report.sections.append((f"deskplane log tail ({s.log_path})", s.log_tail()))
