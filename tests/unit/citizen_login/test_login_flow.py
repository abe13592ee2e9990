"""A login through the sandbox identity provider's kind of response, end to end in memory."""

from __future__ import annotations

from pathlib import Path

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


def test_rsa_sha256_signatures_are_accepted_too(world: World) -> None:
    from adapters.citizen_login import ns

    identity = world.complete(world.response(world.spec(signature_method=ns.RSA_SHA256)))
    assert identity.pseudonym == "SANDBOX-BPK2-ERIKA-0001"


def test_the_authn_request_carries_the_bundid_extension(world: World) -> None:
    from adapters.citizen_login import ns
    from gateway import safexml

    request = safexml.parse(world.request_xml)
    children = [child.tag for child in request]
    assert children.index(ns.q(ns.SAMLP, "Extensions")) < children.index(ns.q(ns.SAMLP, "RequestedAuthnContext"))
    extension = request.find(f"{ns.q(ns.SAMLP, 'Extensions')}/{ns.q(ns.AKDB, 'AuthenticationRequest')}")
    assert extension.get("Version") == "2" and extension.get("EnableStatusDetail") == "true"
    assert [c.tag for c in extension] == [ns.q(ns.AKDB, "RequestedAttributes"), ns.q(ns.AKDB, "DisplayInformation")]
    version = extension.find(f"{ns.q(ns.AKDB, 'DisplayInformation')}/{ns.q(ns.CLASSIC_UI, 'Version')}")
    assert [(c.tag.split("}")[1], c.text) for c in version] == [
        ("OrganizationDisplayName", "Einheitsgemeinde Stadt Tangerhütte"), ("Lang", "de"),
        ("OnlineServiceId", "SANDBOX-ONLINE-SERVICE-0001")]
    bpk2 = extension.find(f".//{ns.q(ns.AKDB, 'RequestedAttribute')}")
    assert bpk2.attrib == {"Name": "urn:oid:1.3.6.1.4.1.25484.494450.3", "RequiredAttribute": "true"}
    context = request.find(ns.q(ns.SAMLP, "RequestedAuthnContext"))
    assert context.get("Comparison") == "minimum"
    assert [c.text for c in context] == ["STORK-QAA-Level-3"]
    signature = request.find(ns.q(ns.DS, "Signature"))
    assert signature.find(f".//{ns.q(ns.DS, 'SignatureMethod')}").get("Algorithm") == ns.RSA_SHA256


def test_the_redirect_binding_sends_a_signed_deflated_request(tmp_path: Path) -> None:
    from adapters.citizen_login import bindings
    from adapters.citizen_login.testing import certificate
    from gateway import safexml
    from tests.unit.citizen_login.conftest import RETURN_TO, make_world

    world = make_world(tmp_path, idp_overrides={"binding": "redirect"})
    step = world.login.begin(TrustLevel.HOCH, RETURN_TO)
    assert not step.fields and step.url.startswith("https://idp.sandbox.test/idp/sso?SAMLRequest=")
    data, relay = bindings.decode_redirect(step.url.split("?", 1)[1], "SAMLRequest",
                                           [certificate("sp-signing-2026")])
    request = safexml.parse(data)
    assert request.get("Destination") == "https://idp.sandbox.test/idp/sso" and relay
    assert "STORK-QAA-Level-4" in data.decode()
