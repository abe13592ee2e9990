"""FIT-Connect: the gateway's full intake CPU per submission, callback to accept, against the
receive path of the PyPI SDK ``fitconnect`` 0.4.2 on the same submissions, in one run.

    .venv/bin/python -m tests.perf.fitconnect.bench_intake [--rounds 7] [--per-round 16] [--quick]

The submission: 50 KB Fachdaten (the Gewerbe-Anmeldung sample, one text field filled up) and one
200 KB attachment (random bytes), sent to the sandbox Zustelldienst the way the PyPI SDK sends
(``testing.send_like_pypi_libraries``: Submission API v1, metadata 1.0.0, JWEs with
``zip: DEF``), so that the SDK can read what the gateway reads. Every submission is new.

* **gateway**: ``rathaus-gateway serve`` as an installation runs it -- the API process and the
  worker process beside it, embedded profile (SQLite WAL + blob files in a temp dir), durability
  ``full`` (the default: blobs fsync'd, SQLite ``synchronous=FULL``), the repository's catalog and
  mappings. The sandbox Zustelldienst (in this process) sends the signed new-submission callback
  of each submission of a round one after another; the API process checks it, fetches submission,
  attachment and event log into the blob store and ``receive``s (raw original durable, inbox row
  + job); the worker ``process``es (event log and SET check, 3 JWE decryptions, metadata and data
  schema checks, hashes, attachment durable, route, map, commit case + event + acknowledgement
  row) and its outbox round signs and posts the accept-submission SET. **Counted**: user +
  system CPU time of both gateway processes (``/proc/<pid>/stat``) from just before the first
  callback of a round until the sandbox has recorded the last accept, divided by the number of
  submissions. Idle time in that window counts too (the worker looks for jobs every 50 ms); its
  rate is printed. **Not counted**: the sandbox (it stands in for the Zustelldienst), building
  and encrypting the submissions, this driver.
* **SDK**: ``FITConnectClient.retrieve_submission`` of each of the same submissions, in this
  process (``time.process_time``), with only its HTTP helper replaced by the bytes the sandbox
  serves (``sdk_receive.py`` says exactly what runs). Its key is loaded once (see there); the
  cost of the call as published, which loads the key on every call, is printed as well.
* **channel only** (for comparison, not a target): the part of the gateway's intake that the SDK's
  receive path corresponds to, in this process on the same submissions, no HTTP, nothing stored:
  ``FitConnectChannel.verify`` of the fetched submission (event log and SET check, tags, 3 JWE
  decryptions, metadata and data schemas, hashes) plus signing the accept-submission SET.

Rounds alternate which side goes first; figures are medians over the rounds of the per-round
values, and the ratio is the median of the per-round ratios gateway / SDK. Target (issue 9,
item 8): <= 1.0. Writes ``var/bench/fitconnect.json`` (summary rows for ``tests.perf.run_all``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from adapters.fitconnect import plugin, testing
from adapters.fitconnect.callback import CALLBACK_TYPE
from adapters.fitconnect.outbound import Created, OutgoingAttachment
from adapters.fitconnect.parts import Manifest
from adapters.fitconnect.sandbox import config as sandbox_config
from adapters.fitconnect.sandbox.app import create_app
from adapters.fitconnect.sandbox.callbacks import send_callback
from adapters.fitconnect.sandbox.state import Sandbox
from gateway.ports import InboundMessage
from gateway.store.blobs import FilesystemBlobStore
from tests.perf import pyspy
from tests.perf.fitconnect.sdk_receive import Captured, SdkReceiver, key_import_cost
from tests.perf.gateway_process import GatewayProcesses, exit_on_sigterm
from tests.perf.runinfo import describe, load_average, run_info
from tests.support.servers import serve_app

DATA_BYTES = 50 * 1024
ATTACHMENT_BYTES = 200 * 1024
TARGET = 1.0
OUT = testing.REPO / "var" / "bench" / "fitconnect.json"
ACCEPT_TIMEOUT_S = 120.0


def fachdaten(index: int) -> bytes:
    """The Gewerbe-Anmeldung sample grown to 50 KB (valid against its schema)."""
    document = orjson.loads((testing.APPLICATIONS / "gewerbe-anmelden-gmbh.json").read_bytes())
    filler = DATA_BYTES - len(orjson.dumps(document))
    text = f"Betrieb {index}: " + "Zimmerei, Holzbau, Dachdeckerarbeiten und Innenausbau. " * 2000
    document["G17003540"]["F17010044"] = text[:filler]
    return orjson.dumps(document)


class Zustelldienst:
    """The sandbox Zustelldienst, served on a loopback port by this process."""

    def __init__(self, url: str, sandbox: Sandbox) -> None:
        self.url, self.sandbox = url, sandbox
        # the destination has no callback URL: the sandbox sends nothing by itself, this driver
        # sends each callback when a round starts (as the sandbox would, signed with its secret)
        self.callback_url = ""
        self._http = httpx.Client(timeout=60)
        token = self._http.post(f"{url}/token", data={
            "grant_type": "client_credentials", "client_id": sandbox_config.GATEWAY_CLIENT[0],
            "client_secret": sandbox_config.GATEWAY_CLIENT[1]}).raise_for_status().json()["access_token"]
        self._subscriber = {"Authorization": f"Bearer {token}"}
        self._count = 0

    def submit(self, count: int) -> list[Created]:
        """New submissions, sent as the PyPI SDK sends them; no callback yet."""
        created = []
        for _ in range(count):
            self._count += 1
            app = testing.application("gewerbe-anmelden-gmbh", data=fachdaten(self._count), attachment=None)
            app = replace(app, attachments=[OutgoingAttachment(
                attachment_id=str(uuid.uuid4()), filename="plan.pdf", media_type="application/pdf",
                content=os.urandom(ATTACHMENT_BYTES), description="Lageplan (TEST)")])
            created.append(testing.send_like_pypi_libraries(self.url, app))
        return created

    def capture(self, created: Created) -> Captured:
        """The bodies the subscriber gets for the submission and its attachments (API v1)."""
        document = self._http.get(f"{self.url}/v1/submissions/{created.submission_id}",
                                  headers=self._subscriber).raise_for_status()
        attachments = {attachment_id: self._http.get(
            f"{self.url}/v1/submissions/{created.submission_id}/attachments/{attachment_id}",
            headers=self._subscriber).raise_for_status().content for attachment_id in document.json()["attachments"]}
        return Captured(created.submission_id, document.content, attachments)

    def announce(self, created: Created) -> None:
        """The new-submission callback to the gateway, signed with the destination's secret."""
        sent = send_callback(self.sandbox, self.callback_url, sandbox_config.DEMO_CALLBACK_SECRET, CALLBACK_TYPE,
                             [self.sandbox.submission(created.submission_id)])
        if sent.status != 200:
            raise RuntimeError(f"callback answered {sent.status}")

    def decided(self, created: Created) -> bool:
        status = self.sandbox.submission(created.submission_id).status
        if status == "rejected":
            raise RuntimeError(f"the gateway rejected submission {created.submission_id}")
        return status == "accepted"


@contextmanager
def zustelldienst() -> Iterator[Zustelldienst]:
    app = create_app(sandbox_config.demo_config(issuer=sandbox_config.DEMO_ISSUER))
    with serve_app(app, health_path="/health") as url:
        yield Zustelldienst(url, app.state.sandbox)


def gateway_settings(sandbox_url: str) -> dict[str, Any]:
    # polling is left out (once an hour): every submission arrives by its callback
    options = testing.gateway_options(sandbox_url, poll_interval=3600)
    # demo: the sandbox's published test keys and secrets are accepted only in the demo profile
    return {"adapters": {"portal": {}, "fitconnect": options}, "poll_interval_seconds": 3600, "demo": True,
            "token_signing_key": "bench-only-token-signing-key-0123456789abcdef"}


@dataclass
class Round:
    gateway_cpu_s: float  # per submission
    gateway_wall_s: float  # per submission, first callback to last accept
    per_process_s: dict[str, float]
    sdk_cpu_s: float
    channel_cpu_s: float

    @property
    def ratio(self) -> float:
        return self.gateway_cpu_s / self.sdk_cpu_s

    @property
    def channel_ratio(self) -> float:
        return self.channel_cpu_s / self.sdk_cpu_s


def sdk_round(sdk: SdkReceiver, captured: list[Captured]) -> float:
    start = time.process_time()
    for item in captured:
        received = sdk.receive(item)
        assert received["attachments"] and received["data_json"]
    return (time.process_time() - start) / len(captured)


class ChannelOnly:
    """The gateway's FIT-Connect channel in this process: its own blob store for the fetched parts
    (fetching is not timed), the sandbox's JWKS read once."""

    def __init__(self, sandbox_url: str, blob_dir: Path) -> None:
        options = plugin.parse_options(gateway_settings(sandbox_url)["adapters"]["fitconnect"])
        self.wiring = plugin.build(options, testing.REPO, testing.MemoryStateStore(), FilesystemBlobStore(blob_dir))

    def fetch(self, created: Created) -> InboundMessage:
        message = self.wiring.source.fetch(sandbox_config.DEMO_DESTINATION, created.submission_id, created.case_id)
        assert message is not None
        return message

    def round(self, messages: list[InboundMessage]) -> float:
        channel = self.wiring.channel
        start = time.process_time()
        for message in messages:
            verified = channel.verify(message)
            assert verified.attachments
            channel.accept_token(Manifest.from_bytes(message.payload))
        return (time.process_time() - start) / len(messages)


def gateway_round(service: Zustelldienst, gateway: GatewayProcesses, created: list[Created]
                  ) -> tuple[float, float, dict[str, float]]:
    before, system, wall = gateway.cpu(), gateway.system_cpu(), time.perf_counter()
    for item in created:
        service.announce(item)
    deadline = time.monotonic() + ACCEPT_TIMEOUT_S
    pending = list(created)
    while pending:
        pending = [item for item in pending if not service.decided(item)]
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} submissions not accepted after {ACCEPT_TIMEOUT_S:.0f} s:\n"
                               f"{gateway.log_tail()}")
        if pending:
            time.sleep(0.005)
    after, wall = gateway.cpu(), time.perf_counter() - wall
    per_process = {name: (after[name] - before[name]) / len(created) for name in after}
    per_process["(of which kernel)"] = (gateway.system_cpu() - system) / len(created)
    return sum(after[name] - before[name] for name in after) / len(created), wall / len(created), per_process


def idle_rate(gateway: GatewayProcesses, seconds: float = 1.0) -> float:
    """CPU seconds per second the gateway's processes use with nothing to do."""
    before = sum(gateway.cpu().values())
    time.sleep(seconds)
    return (sum(gateway.cpu().values()) - before) / seconds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=16, help="submissions per round (both sides)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3: a smoke test of the machinery")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy samples both gateway processes during the rounds (it costs them CPU too: "
                             "figures of a profiled run are not comparable); top functions are printed")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.per_round = 2, 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    info = run_info()
    private_jwk = json.loads((testing.KEY_DIR / "tangerhuette-enc-2026.jwk.json").read_text())
    rounds: list[Round] = []
    with zustelldienst() as service, tempfile.TemporaryDirectory(prefix="fitconnect-bench-") as tmp:
        gateway = GatewayProcesses("fitconnect", gateway_settings(service.url), Path(tmp))
        sdk = SdkReceiver(private_jwk)
        channel = ChannelOnly(service.url, Path(tmp) / "channel-blobs")
        try:
            gateway.wait_ready()
            service.callback_url = (f"{gateway.url}/v1/channels/fitconnect/callbacks/"
                                    f"{sandbox_config.DEMO_DESTINATION}")
            warm = service.submit(3)  # first use: JWKS, token, statements, mapping, schemas
            sdk_round(sdk, [service.capture(c) for c in warm])  # captured before the accept removes them
            channel.round([channel.fetch(c) for c in warm])
            gateway_round(service, gateway, warm)
            idle = idle_rate(gateway)
            recording = pyspy.Recording(gateway.pids, OUT.parent, "fitconnect") if args.profile else None
            for number in range(args.rounds):
                created = service.submit(args.per_round)
                captured = [service.capture(c) for c in created]
                fetched = [channel.fetch(c) for c in created]
                if number % 2:  # alternate who goes first: drift in the machine's load hits both alike
                    sdk_cpu = sdk_round(sdk, captured)
                    channel_cpu = channel.round(fetched)
                    cpu, wall, per_process = gateway_round(service, gateway, created)
                else:
                    cpu, wall, per_process = gateway_round(service, gateway, created)
                    channel_cpu = channel.round(fetched)
                    sdk_cpu = sdk_round(sdk, captured)
                rounds.append(Round(cpu, wall, per_process, sdk_cpu, channel_cpu))
                print(f"  round {number + 1}: gateway {cpu * 1000:6.2f} ms CPU/submission "
                      f"({' + '.join(f'{k} {v * 1000:.2f}' for k, v in per_process.items())}), "
                      f"SDK {sdk_cpu * 1000:6.2f} ms, channel only {channel_cpu * 1000:6.2f} ms, "
                      f"ratio {cpu / sdk_cpu:.2f}", flush=True)
            if recording is not None:
                for path in recording.stop().values():
                    print(pyspy.top(path, only=("gateway/", "adapters/", "sqlalchemy", "httpx")))
            key_import = key_import_cost(private_jwk, calls=1 if args.quick else 3)
        finally:
            sdk.close()
            gateway.stop()
    return report(args, info, rounds, idle, key_import)


def report(args: argparse.Namespace, info: dict[str, Any], rounds: list[Round], idle: float,
           key_import: float) -> int:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    ratios = sorted(r.ratio for r in rounds)
    gateway, sdk, ratio = med([r.gateway_cpu_s for r in rounds]), med([r.sdk_cpu_s for r in rounds]), med(ratios)
    wall = med([r.gateway_wall_s for r in rounds])
    per_process = {name: med([r.per_process_s[name] for r in rounds]) for name in rounds[0].per_process_s}
    published = sdk + key_import
    channel, channel_ratio = med([r.channel_cpu_s for r in rounds]), med([r.channel_ratio for r in rounds])
    print(f"FIT-Connect intake: data {DATA_BYTES // 1024} KB + attachment {ATTACHMENT_BYTES // 1024} KB, "
          f"{args.rounds} rounds of {args.per_round} submissions; {describe(info)}, "
          f"load average now {' '.join(str(v) for v in load_average())}")
    print(f"SDK fitconnect 0.4.2 retrieve_submission (key loaded once): {sdk * 1000:8.2f} ms CPU/submission")
    print(f"  as published (loads the RSA key on every call):          {published * 1000:8.2f} ms")
    print(f"gateway channel only (verify + accept SET, no HTTP, nothing stored): {channel * 1000:8.2f} ms, "
          f"{channel_ratio:.2f}x the SDK")
    print(f"gateway, callback to accept (API + worker process):         {gateway * 1000:8.2f} ms CPU/submission "
          f"({', '.join(f'{k} {v * 1000:.2f}' for k, v in per_process.items())}); wall {wall * 1000:.1f} ms")
    print(f"  ratio gateway / SDK: {ratio:.2f} (rounds {ratios[0]:.2f}..{ratios[-1]:.2f}), target <= {TARGET:.1f}; "
          f"idle gateway processes: {idle * 1000:.1f} ms CPU/s")
    result = {
        "benchmark": "fitconnect", **info, "load_average_end": load_average(),
        "settings": {"rounds": args.rounds, "per_round": args.per_round, "data_bytes": DATA_BYTES,
                     "attachment_bytes": ATTACHMENT_BYTES, "durability": "full", "profile": "embedded"},
        "rounds": [{**r.__dict__, "ratio": r.ratio} for r in rounds],
        "idle_cpu_s_per_s": idle, "sdk_key_import_cpu_s": key_import,
        "summary": [
            {"metric": "fitconnect SDK 0.4.2 receive CPU ms/submission (decrypt 3 JWE, metadata schema, hashes)",
             "value": round(sdk * 1000, 2), "floor": None, "ratio": None, "target": "", "pass": None},
            {"metric": "fitconnect gateway channel only CPU ms/submission (verify + accept SET, no HTTP) vs SDK",
             "value": round(channel * 1000, 2), "floor": round(sdk * 1000, 2), "ratio": round(channel_ratio, 3),
             "target": "", "pass": None},
            {"metric": "fitconnect gateway intake CPU ms/submission (callback to accept, API + worker) vs SDK",
             "value": round(gateway * 1000, 2), "floor": round(sdk * 1000, 2), "ratio": round(ratio, 3),
             "target": f"<= {TARGET:.1f}", "pass": ratio <= TARGET},
        ],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
