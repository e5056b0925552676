"""What the outside checks of tests/sdk share: requests to the test server
with its key, and a tally of checks. TRAIL_API is the server's base URL,
TRAIL_KEY an ingest+read key for one workspace."""

import json
import os
import urllib.error
import urllib.request

BASE = os.environ["TRAIL_API"]
KEY = os.environ["TRAIL_KEY"]
results = {"passed": 0, "failed": 0}


def request(path, headers=None, body=None):
    """(status, JSON body) of a request with the key: a POST of `body` (bytes) if given."""
    method = "POST" if body is not None else "GET"
    all_headers = {"Authorization": f"Bearer {KEY}", **(headers or {})}
    req = urllib.request.Request(BASE + path, data=body, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def check(condition, what, detail=""):
    results["passed" if condition else "failed"] += 1
    print(("ok      " if condition else "FAILED  ") + what + ("" if condition else f": {detail}"))
