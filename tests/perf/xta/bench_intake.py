"""XTA intake CPU cost per message, against a floor measured in the same run.

    .venv/bin/python -m tests.perf.xta.bench_intake [--iterations 300]

The message is a real sandbox getMessage response (MTOM): a ~100 KB XFall/FIM Wohngeld
payload plus a 1 MB attachment. "Intake" is what the XTA channel does for it
(``XtaChannel.verify``: split the MIME parts, parse the envelope, check the MessageMetaData,
parse and schema-validate the payload, hand over payload and attachment). The floor is lxml
parsing the XML of that same response once (the SOAP envelope part and the payload part),
the least any XML intake has to do. Both are CPU time (time.process_time) over many
iterations. Target: intake <= 5x the floor. Exit status 1 when the target is missed; the
figures also go to var/bench/xta.json for ``make bench`` (tests/perf/run_all.py). The cost of
the core's mapping step is printed for information only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from adapters.xta import mtom, samples, testing
from adapters.xta.client import Content
from adapters.xta.plugin import build, load_options
from adapters.xta.soap import content_bytes, parse_envelope
from gateway.mapping import MappingRegistry
from gateway.ports import InboundMessage

REPO = Path(__file__).resolve().parents[3]
TARGET = 5.0
OUT = REPO / "var" / "bench" / "xta.json"


def payload_of_about(size: int) -> bytes:
    """The Wohngeld fixture grown to ``size`` bytes with further (valid) income entries."""
    root = etree.fromstring(samples.WOHNGELD.fixtures()[0].read_bytes())
    ns = samples.WOHNGELD.payload_schema
    anchor = root.find(f"{{{ns}}}G05000050")
    template = root.find(f"{{{ns}}}G05000040")
    month = 0
    while len(etree.tostring(root)) < size:
        entry = etree.fromstring(etree.tostring(template))
        entry.find(f"{{{ns}}}F05000042").text = f"{1000 + month % 900}.{month % 100:02d}"
        entry.find(f"{{{ns}}}F05000043").text = f"Lohnabrechnung Monat {month + 1}, Arbeitgeber Beispiel GmbH"
        anchor.addprevious(entry)
        month += 1
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def cpu_per_call(fn: Callable[[], object], iterations: int) -> float:
    for _ in range(5):
        fn()  # warm caches (compiled schemas, XPath)
    start = time.process_time()
    for _ in range(iterations):
        fn()
    return (time.process_time() - start) / iterations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args(argv)

    http, _ = testing.sandbox_http()
    payload = payload_of_about(100 * 1024)
    attachment = os.urandom(1024 * 1024)
    portal = testing.client_for(samples.STATE_PORTAL, http)
    message_id = samples.post(portal, samples.WOHNGELD, payload, [Content(attachment, "application/pdf", "scan.pdf")])
    response = testing.client_for(samples.TOWN, http).get_message(message_id)
    message = InboundMessage(channel="xta", source_id=message_id, payload=response.raw,
                             media_type=response.content_type, received_at=dt.datetime.now(dt.UTC))
    channel, _, _ = build(load_options(testing.options()), REPO, http)
    submission = channel.verify(message)
    assert submission.data == payload and submission.attachments[0].content == attachment

    parts = mtom.parse(response.raw, response.content_type)
    envelope_xml = parts.root.data.tobytes()
    env = parse_envelope(envelope_xml)
    message_el = env.body.find(".//{http://xoev.de/transport/xta/211}Message")
    payload_xml = content_bytes(message_el, parts.parts).tobytes()

    def floor() -> None:
        etree.fromstring(envelope_xml)
        etree.fromstring(payload_xml)

    intake = cpu_per_call(lambda: channel.verify(message), args.iterations)
    base = cpu_per_call(floor, args.iterations)
    ratio = intake / base
    mapping = MappingRegistry.load(REPO / "mappings").get("xoev.wohngeld-mietzuschuss")
    mapped = cpu_per_call(lambda: mapping.apply(channel.verify(message).data), max(20, args.iterations // 10))
    print(f"message: {len(response.raw) / 1024:.0f} KiB getMessage response "
          f"(payload {len(payload) / 1024:.0f} KiB XML, attachment {len(attachment) / 1024:.0f} KiB), "
          f"{args.iterations} iterations")
    print(f"floor  (lxml parses envelope + payload once): {base * 1000:8.3f} ms CPU per message")
    print(f"intake (XtaChannel.verify)                   : {intake * 1000:8.3f} ms CPU per message")
    print(f"ratio  intake / floor                        : {ratio:8.2f}x  (target <= {TARGET:.0f}x) "
          f"{'OK' if ratio <= TARGET else 'ABOVE TARGET'}")
    print(f"for information, verify + core mapping (engine's own parse and XPath): {mapped * 1000:8.3f} ms CPU")
    write_summary(intake, base, ratio, args.iterations)
    return 0 if ratio <= TARGET else 1


def write_summary(intake: float, base: float, ratio: float, iterations: int) -> None:
    """var/bench/xta.json in the row format `make bench` (tests/perf/run_all.py) tabulates."""
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "iterations": iterations, "intake_cpu_ms": intake * 1000, "floor_cpu_ms": base * 1000,
        "summary": [{"metric": "xta intake CPU ms/message (100 KB XFall + 1 MB MTOM) vs lxml parse",
                     "value": round(intake * 1000, 3), "floor": round(base * 1000, 3), "ratio": round(ratio, 2),
                     "target": f"<= {TARGET:.0f}x", "pass": ratio <= TARGET}],
    }, indent=2))
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
