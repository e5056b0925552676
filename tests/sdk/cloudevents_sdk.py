"""Trail's ingest against the official CloudEvents Python SDK (`cloudevents`
on PyPI): events built and framed by the SDK, in binary mode (the framing the SDKs use by default:
attributes in ce-* headers, data as the body) and in structured mode.

Run by scripts/test against a test server: TRAIL_API is its base URL and
TRAIL_KEY an ingest+read key for one workspace.
"""

import sys

from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v03.event import CloudEvent as CloudEventV03
from cloudevents.core.v1.event import CloudEvent

from harness import check, request, results


def send(message):
    return request("/api/v1/events", headers=dict(message.headers), body=message.body)


def attributes(event_id):
    return {
        "type": "invoice.paid",
        "source": "/billing",
        "id": event_id,
        "subject": "inv 42",
        "datacontenttype": "application/json",
    }


binary = to_binary_event(CloudEvent(attributes("sdk-binary-1"), {"amount": 12}))
check(any(name.lower() == "ce-specversion" for name in binary.headers), "binary mode: ce-* headers", binary.headers)
status, first = send(binary)
check(status == 202 and first.get("accepted") == 1, "a binary-mode event is stored", (status, first))
status, again = send(binary)
check(status == 202 and again.get("duplicates") == 1, "its resend is a duplicate (source and id name it)", again)
check(again.get("ids") == first.get("ids"), "the resend answers the stored id", (first, again))

status, record = request(f"/api/v1/events/{first['ids'][0]}") if first.get("ids") else (0, {})
check(record.get("key") == "invoice.paid", "ce-type is the key", record)
check(record.get("event_id") == "/billing sdk-binary-1", "ce-source and ce-id are the event_id", record)
check(record.get("context") == "/billing", "ce-source is the context", record)
check((record.get("entity") or {}).get("id") == "inv 42", "ce-subject is the entity id", record)
check(record.get("payload") == {"amount": 12}, "the body is the payload", record)

structured = to_structured_event(CloudEvent(attributes("sdk-structured-1"), {"amount": 13}))
status, stored = send(structured)
check(status == 202 and stored.get("accepted") == 1, "a structured-mode event is stored", (status, stored))

old = to_binary_event(CloudEventV03({**attributes("sdk-old-1"), "specversion": "0.3"}, {"amount": 1}))
status, refused = send(old)
fields = [error.get("field") for error in refused.get("errors", [])]
check(status == 422 and "specversion" in fields, "CloudEvents 0.3 is refused, naming specversion", (status, refused))

print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
