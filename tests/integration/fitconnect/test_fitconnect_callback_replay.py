"""Callback replay protection on the gateway database of either profile: the shared check decides."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.fitconnect import testing
from adapters.fitconnect.callback import CALLBACK_TYPE, CallbackAuthenticator, CallbackRejected, callback_signature
from adapters.fitconnect.plugin import parse_options
from adapters.fitconnect.sandbox.config import DEMO_CALLBACK_SECRET, DEMO_DESTINATION
from gateway.ports import StateStore

OPTIONS = parse_options(testing.gateway_options("http://sandbox.invalid"))


def test_one_of_many_processes_takes_a_callback(shared_state: StateStore) -> None:
    body = f'{{"type":"{CALLBACK_TYPE}","submissions":[]}}'.encode()
    stamp = str(int(time.time()))
    signature = callback_signature(DEMO_CALLBACK_SECRET, stamp, body)
    processes = [CallbackAuthenticator(OPTIONS, shared_state) for _ in range(6)]

    def deliver(auth: CallbackAuthenticator) -> bool:
        try:
            auth.check(DEMO_DESTINATION, stamp, signature, body)
        except CallbackRejected:
            return False
        return True

    with ThreadPoolExecutor(6) as pool:
        taken = list(pool.map(deliver, processes))
    assert taken.count(True) == 1
    with pytest.raises(CallbackRejected, match="replayed"):
        CallbackAuthenticator(OPTIONS, shared_state).check(DEMO_DESTINATION, stamp, signature, body)
