"""Checks Trail's record proofs with an implementation of its own, in another
language: RFC 8785 canonical JSON from the `rfc8785` package, SHA-256 from
`hashlib`, Ed25519 from PyNaCl (both from PyPI). Nothing here comes from
Trail's code; the steps are the ones docs/integrity.md gives by hand.

Run by scripts/test against a test server: TRAIL_API is its base URL and
TRAIL_KEY an ingest+read key for one workspace.
"""

import hashlib
import json
import sys

import rfc8785
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from harness import check, request, results


def post_json(path, value):
    return request(path, headers={"Content-Type": "application/json"}, body=json.dumps(value).encode())


def sha256(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()


def verify_proof(proof, public_key):
    """Whether the proof holds: the record's content, its link, the links
    after it up to the digest's head, and the digest's signature."""
    content = sha256(rfc8785.dumps(proof["record"]))
    if content.hex() != proof["content"]:
        return False, "the record does not hash to its content"
    link = sha256(bytes.fromhex(proof["previous"]), content)
    if link.hex() != proof["hash"]:
        return False, "the link does not follow from the previous hash"
    for following in proof["following"]:
        link = sha256(link, bytes.fromhex(following))
    digest = proof["digest"]
    if link.hex() != digest["head"] or digest["seq"] != proof["seq"] + len(proof["following"]):
        return False, "the links do not reach the digest's head"
    if digest["public_key"] != public_key:
        return False, "the digest was signed with another key"
    if not verify_digest(digest, public_key):
        return False, "the digest's signature fails"
    return True, ""


def main():
    records = [
        {"kind": "audit", "key": "invoice.sent", "message": f"Invoice INV-{n} sent", "event_id": f"proof-{n}",
         "actor": {"id": "u_1", "email": "ada@example.com"}, "entity": {"type": "invoice", "id": f"inv_{n}"},
         "payload": {"amount": {"cents": 1250 + n, "currency": "EUR"}, "ratio": 0.25, "tags": ["a", "ü"]},
         "diff": {"old": {"state": "draft"}, "new": {"state": "sent"}}}
        for n in range(3)
    ]
    status, body = post_json("/api/v1/events", records)
    check(status == 202, "three records ingested", body)
    _, digests = request("/api/v1/digests")
    public_key = digests["public_key"]
    for n, record_id in enumerate(body["ids"]):
        status, proof = request(f"/api/v1/events/{record_id}/proof")
        check(status == 200, f"a proof of record {n}", proof)
        if status != 200:
            continue
        _, shown = request(f"/api/v1/events/{record_id}")
        same = all(proof["record"].get(k) == shown.get(k) for k in ("id", "key", "message", "event_id"))
        check(same, f"record {n}: the proof is of the record the API shows", (proof["record"], shown))
        holds, why = verify_proof(proof, public_key)
        check(holds, f"record {n}: canonical form, link, chain to the digest and signature verify", why)
        forged = json.loads(json.dumps(proof))
        forged["record"]["message"] = "Invoice never sent"
        check(not verify_proof(forged, public_key)[0], f"record {n}: a changed message does not verify")
        resigned = json.loads(json.dumps(proof))
        resigned["digest"]["seq"] += 1
        check(not verify_proof(resigned, public_key)[0], f"record {n}: a changed digest does not verify")
    signed, cursor = [], ""
    while True:  # every page
        _, digests = request(f"/api/v1/digests?limit=2&cursor={cursor}")
        signed += digests["digests"]
        cursor = digests.get("next_cursor")
        if not cursor:
            break
    check(signed and all(verify_digest(d, public_key) for d in signed), "every digest the API lists verifies", signed)
    print(f"proof check: {results['passed']} checks held, {results['failed']} did not")
    return 1 if results["failed"] else 0


def verify_digest(digest, public_key):
    """Whether `public_key` signed the digest's statement: its chain, link,
    head, time and the previous digest's signature, in RFC 8785 form."""
    statement = {k: digest[k] for k in ("workspace_id", "kind", "seq", "head", "signed_at")}
    if digest.get("previous") is not None:
        statement["previous"] = digest["previous"]
    try:
        VerifyKey(bytes.fromhex(public_key)).verify(rfc8785.dumps(statement), bytes.fromhex(digest["signature"]))
        return True
    except BadSignatureError:
        return False


if __name__ == "__main__":
    sys.exit(main())
