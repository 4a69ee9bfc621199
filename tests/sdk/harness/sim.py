"""`/sim/v1`: the simulator's own API (fault injection, user sessions, the
simulated clock). It is outside the Huawei API, so the SDK cannot call it;
plain `requests` does, unauthenticated as the server serves it."""

from __future__ import annotations

import requests


class SimApi:
    """A client of one server's `/sim/v1`."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/") + "/sim/v1"
        self._http = requests.Session()
        self._timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None, want: int = 200):
        r = self._http.request(method, self._base + path, json=body, timeout=self._timeout)
        if r.status_code != want:
            raise AssertionError(f"{method} /sim/v1{path} answered {r.status_code}, not {want}: {r.text}")
        return r.json() if r.content else None

    def put_fault(self, desktop_id: str, **fault) -> dict:
        """Inject a fault: fail_next, ops, error_code, error_msg, ignore_soft."""
        return self._call("PUT", f"/desktops/{desktop_id}/fault", fault)

    def get_fault(self, desktop_id: str) -> dict:
        return self._call("GET", f"/desktops/{desktop_id}/fault")

    def clear_fault(self, desktop_id: str) -> None:
        self._call("DELETE", f"/desktops/{desktop_id}/fault", want=204)

    def session(self, desktop_id: str, login_status: str) -> None:
        """Simulate a user connecting (CONNECTED), dropping (DISCONNECTED) or leaving (REGISTERED)."""
        self._call("POST", f"/desktops/{desktop_id}/session", {"login_status": login_status}, want=204)

    def clock_ms(self) -> int:
        return int(self._call("GET", "/clock")["elapsed_ms"])

    def advance(self, seconds: float) -> int:
        """Move simulated time forward; the clock's new reading in ms."""
        return int(self._call("POST", "/clock/advance", {"seconds": seconds})["elapsed_ms"])
