"""A login through the sandbox identity provider's kind of response, end to end in memory."""

from __future__ import annotations

from adapters.citizen_login import attributes as a
from gateway.case.model import TrustLevel
from tests.unit.citizen_login.conftest import World


def test_a_signed_encrypted_response_gives_the_identity(world: World) -> None:
    identity = world.complete(world.response())
    assert identity.pseudonym == "SANDBOX-BPK2-ERIKA-0001"
    assert identity.trust_level is TrustLevel.SUBSTANTIELL
    assert identity.authn_context == "STORK-QAA-Level-3"
    assert identity.proved_by == "Elster"
    assert identity.postbox_handle == "5f0c2b1e-8d4a-4c7e-9b3f-2a6d8e1c0f47"
    assert identity.attributes["given_name"] == "Erika"
    assert identity.provider == "sandbox" and identity.tenant_ars == "150905350535"


def test_the_trust_attribute_may_use_the_word_spellings(world: World) -> None:
    spec = world.spec()
    spec.attributes[a.TRUST_LEVEL] = "Substantiell"
    spec.attribute_trust = {a.BPK2: "NORMAL", a.GIVEN_NAME: "Basisregistrierung"}
    assert world.complete(world.response(spec)).trust_level is TrustLevel.SUBSTANTIELL
