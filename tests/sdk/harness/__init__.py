"""Shared machinery of the SDK conformance suite: the server process, SDK
clients, the /sim/v1 helper, signed raw requests and bounded waits."""
