"""A webhook receiver for the integration tests (tests/api/webhooks.rs).

Verifies every request with the official Standard Webhooks library
(`standardwebhooks` from PyPI) and writes one JSON line per request to
--out: its headers' id, whether it verified (and with which secret of
--secrets, a file re-read per request, one secret per line), the body and
the status answered (an NDJSON body's records as "lines"). Answers come
from --answers ("500,500,200": one per request, the last repeated), each
--delay seconds after its request (the line is written then). Prints its
port on the first line of stdout.
"""

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--secrets", required=True)
parser.add_argument("--answers", default="200")
parser.add_argument("--out", required=True)
parser.add_argument("--delay", type=float, default=0)
args = parser.parse_args()
answers = [int(a) for a in args.answers.split(",")]
lock = Lock()
served = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global served
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        time.sleep(args.delay)
        headers = {k: v for k, v in self.headers.items()}
        with open(args.secrets) as f:
            secrets = [line.strip() for line in f if line.strip()]
        verified_with = []
        for index, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(body, headers, json_parse=False)
                verified_with.append(index)
            except WebhookVerificationError:
                pass
        with lock:
            status = answers[min(served, len(answers) - 1)]
            served += 1
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            # A log stream's NDJSON batch: one record per line.
            lines = None
            if headers.get("Content-Type", headers.get("content-type", "")).startswith("application/x-ndjson"):
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            line = {
                "id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "signature": headers.get("webhook-signature"),
                "verified_with": verified_with,
                "body": parsed,
                "lines": lines,
                "answered": status,
            }
            with open(args.out, "a") as out:
                out.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
