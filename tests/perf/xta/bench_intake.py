"""XTA intake CPU time per message, against a floor measured in the same run.

    .venv/bin/python -m tests.perf.xta.bench_intake [--iterations 150] [--rounds 5] [--profile]

The message is a real sandbox getMessage response (MTOM): a ~100 KB XFall/FIM Wohngeld
payload plus a 1 MB attachment. The floor is lxml parsing the XML of that response once (the
SOAP envelope part and the payload part), the least any XML intake has to do. Measured, as
CPU time (time.process_time) per message, garbage collector on as in production:

* **full intake** (the headline): a gateway of the embedded profile (``Gateway.create`` on a temp
  dir, the repository's mappings and catalog) takes the message as the XTA source hands it
  over: ``receive`` (raw original durable in the blob store, inbox row and job committed), then
  ``process`` (XtaChannel.verify, attachment durable in the blob store, route, mapping
  ``xoev.wohngeld-mietzuschuss``, commit of case, event and the close-after-commit outbox row in
  one transaction). Every iteration is a new message
  (new MessageID, its own attachment and Vorgangsnummer), so nothing is deduplicated; building
  it is not timed. Not included: the network (getMessage before, close after, both I/O-bound).
* **verify only**: ``XtaChannel.verify`` (MIME parts, envelope, MessageMetaData, payload parse and
  XSD validation, hand-over of payload and attachment).
* **digests**: SHA-512 of the raw original and of the attachment, which the case records
  (``original.sha512``, ``attachments[].sha512``): a cost of the case format, shown next to the floor.

The measurements take turns in ``--rounds`` rounds and each figure is the median over the rounds
(min-max printed): on a shared machine a burst of foreign load then spoils one round of one
figure, not the figure. Target (issue): full intake <= 5x the floor (medians). Exit status 1 when
it is missed; the figures go to
var/bench/xta.json for ``make bench`` (tests/perf/run_all.py). ``--profile`` adds a cProfile of
the full intake (top functions by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

from adapters.xta import mtom, samples, testing
from adapters.xta.client import Content
from adapters.xta.soap import content_bytes, parse_envelope
from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.ports import InboundMessage

REPO = Path(__file__).resolve().parents[3]
TARGET = 5.0
OUT = REPO / "var" / "bench" / "xta.json"
CASE_NUMBER = b"WG-2025-0004711"  # the fixture's Vorgangsnummer (String50), varied per message


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


class Sample:
    """One sandbox getMessage response, and fresh copies of it that differ where real ones do."""

    def __init__(self) -> None:
        http, _ = testing.sandbox_http()
        self.payload = payload_of_about(100 * 1024)
        self.attachment = os.urandom(1024 * 1024)
        portal = testing.client_for(samples.STATE_PORTAL, http)
        self.message_id = samples.post(portal, samples.WOHNGELD, self.payload,
                                       [Content(self.attachment, "application/pdf", "scan.pdf")])
        response = testing.client_for(samples.TOWN, http).get_message(self.message_id)
        self.raw, self.media_type = response.raw, response.content_type
        assert self.raw.count(self.message_id.encode()) == 1 and self.raw.count(CASE_NUMBER) == 1
        self._attachment_at = self.raw.index(self.attachment[:64])
        self._case_number_at = self.raw.index(CASE_NUMBER)

    def inbound(self, raw: bytes | None = None, message_id: str | None = None) -> InboundMessage:
        return InboundMessage(channel="xta", source_id=message_id or self.message_id, payload=raw or self.raw,
                              media_type=self.media_type, received_at=dt.datetime.now(dt.UTC),
                              tenant_ars="150905350535")

    def fresh(self) -> Iterator[InboundMessage]:
        for n in range(1, sys.maxsize):
            message_id = self.message_id[:-36] + str(uuid.uuid4())  # same length: offsets stay valid
            raw = bytearray(self.raw.replace(self.message_id.encode(), message_id.encode()))
            raw[self._attachment_at:self._attachment_at + 8] = n.to_bytes(8, "big")
            raw[self._case_number_at:self._case_number_at + len(CASE_NUMBER)] = b"WG-2025-%07d" % (n % 10**7)
            yield self.inbound(bytes(raw), message_id)

    def floor(self) -> Callable[[], None]:
        parts = mtom.parse(self.raw, self.media_type)
        envelope_xml = parts.root.data.tobytes()
        message_el = parse_envelope(envelope_xml).body.find(".//{http://xoev.de/transport/xta/211}Message")
        payload_xml = content_bytes(message_el, parts.parts).tobytes()

        def floor() -> None:
            etree.fromstring(envelope_xml)
            etree.fromstring(payload_xml)

        return floor

    def digests(self) -> Callable[[], None]:
        """The SHA-512 digests the case records: of the raw original and of the attachment."""
        raw, attachment = self.raw, self.attachment

        def digests() -> None:
            hashlib.sha512(raw).digest()
            hashlib.sha512(attachment).digest()

        return digests


def full_intake(gateway: Gateway, messages: Iterator[InboundMessage], iterations: int,
                profile: cProfile.Profile | None = None) -> float:
    """CPU seconds per message for what the worker does with a polled message: ``receive`` (raw
    original durable, inbox row and job), then ``process`` (verify, map, commit)."""
    total = 0.0
    ids = []
    for _ in range(iterations):
        message = next(messages)
        ids.append(message.source_id)
        if profile:
            profile.enable()
        start = time.process_time()
        gateway.pipeline.process(gateway.pipeline.receive(message).inbox_id)
        total += time.process_time() - start
        if profile:
            profile.disable()
    states = {getattr(gateway.queries.inbox_entry("xta", i), "state", None) for i in ids}
    assert states == {"committed"}, f"not every message became a case: {states}"
    return total / iterations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=150, help="full intakes in all (verify, floor: 2x)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the full intake, print the top 30")
    args = parser.parse_args(argv)
    os.environ.pop("RG_CONFIG_FILE", None)
    per_round = max(1, args.iterations // args.rounds)
    runs: dict[str, list[float]] = {"floor": [], "verify": [], "full": [], "mapping": [], "digests": []}

    sample = Sample()
    with tempfile.TemporaryDirectory(prefix="xta-bench-") as tmp:
        settings = Settings(profile="embedded", data_dir=Path(tmp), mappings_dir=REPO / "mappings",
                            token_signing_key="bench-only-signing-key-0123456789abcdef",
                            adapters={"xta": testing.options()})  # its server is never called here
        # the close after the commit is network I/O, not intake: it stays an outbox row here
        gateway = Gateway.create(settings)
        try:
            channel = gateway.adapters.channels.get("xta")
            submission = channel.verify(sample.inbound())
            assert submission.data == sample.payload and submission.attachments[0].content == sample.attachment
            mapping = gateway.mappings.get("xoev.wohngeld-mietzuschuss")
            messages = sample.fresh()
            full_intake(gateway, messages, 5)  # warm-up: first commit, statement caches
            for _ in range(args.rounds):
                runs["floor"].append(cpu_per_call(sample.floor(), 2 * per_round))
                runs["verify"].append(cpu_per_call(lambda: channel.verify(sample.inbound()), 2 * per_round))
                runs["full"].append(full_intake(gateway, messages, per_round))
                runs["mapping"].append(cpu_per_call(lambda: mapping.apply(sample.payload), max(5, per_round // 3)))
                runs["digests"].append(cpu_per_call(sample.digests(), per_round))
            profile = cProfile.Profile() if args.profile else None
            if profile:
                full_intake(gateway, messages, max(20, args.iterations // 3), profile)
        finally:
            gateway.close()

    med = {name: statistics.median(values) for name, values in runs.items()}
    floor, full, verify = med["floor"], med["full"], med["verify"]

    def show(name: str) -> str:
        return f"{med[name] * 1000:8.3f} ms CPU ({min(runs[name]) * 1000:.2f}-{max(runs[name]) * 1000:.2f})"

    print(f"message: {len(sample.raw) / 1024:.0f} KiB getMessage response (payload {len(sample.payload) / 1024:.0f} "
          f"KiB XML, attachment {len(sample.attachment) / 1024:.0f} KiB); {args.rounds} rounds of {per_round} full "
          f"intakes; medians (min-max); {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")
    print(f"floor  (lxml parses envelope + payload once)             : {show('floor')}")
    print(f"FULL INTAKE (receive + process, one commit each)      : {show('full')}  {full / floor:5.1f}x floor "
          f"(target <= {TARGET:.0f}x) {'OK' if full <= TARGET * floor else 'ABOVE TARGET'}")
    print(f"  of which mapping engine (Mapping.apply, same payload)   : {show('mapping')}  "
          f"{med['mapping'] / full:5.0%} of the full intake")
    print(f"verify only (XtaChannel.verify)                           : {show('verify')}  {verify / floor:5.1f}x floor")
    print(f"SHA-512 of raw original + attachment (the case's digests): {show('digests')}  "
          f"{med['digests'] / floor:5.1f}x floor")
    if profile:
        pstats.Stats(profile).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(30)
    write_summary(med, runs, iterations=per_round * args.rounds)
    return 0 if full <= TARGET * floor else 1


def write_summary(med: dict[str, float], runs: dict[str, list[float]], iterations: int) -> None:
    """var/bench/xta.json in the row format `make bench` (tests/perf/run_all.py) tabulates."""
    floor = med["floor"]

    def row(metric: str, value: float) -> dict[str, object]:
        ratio = value / floor
        return {"metric": metric, "value": round(value * 1000, 3), "floor": round(floor * 1000, 3),
                "ratio": round(ratio, 2), "target": f"<= {TARGET:.0f}x", "pass": ratio <= TARGET}

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "full_intakes": iterations, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "cpu_ms_median": {name: value * 1000 for name, value in med.items()},
        "cpu_ms_rounds": {name: [v * 1000 for v in values] for name, values in runs.items()},
        "summary": [row("xta full intake CPU ms/message (100 KB XFall + 1 MB MTOM) vs lxml parse", med["full"]),
                    {**row("xta verify only (XtaChannel.verify) CPU ms/message vs lxml parse", med["verify"]),
                     "target": "", "pass": None},
                    {**row("xta SHA-512 of raw original + attachment CPU ms/message vs lxml parse", med["digests"]),
                     "target": "", "pass": None}],
    }, indent=2))
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
