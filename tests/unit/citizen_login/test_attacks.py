"""Attacks on the assertion consumer service, each refused — and each test names the check that
refuses it, so a weakened check makes its test fail (the valid response of the same world is
accepted: see test_login_flow.py and ``test_the_control_response_is_accepted`` below).

Signature wrapping follows SAMLRaider's XSW1-XSW8 (CompassSecurity/SAMLRaider,
src/main/java/helpers/XSWHelpers.java): XSW1/2 wrap a signed Response, XSW3-8 a signed
Assertion; the "evil" copy carries another pseudonym.
"""

from __future__ import annotations

import copy
import datetime as dt
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from adapters.citizen_login import attributes as a
from adapters.citizen_login import bindings, ns, xmldsig
from adapters.citizen_login.response import Expectation
from adapters.citizen_login.sandbox.responses import to_bytes
from adapters.citizen_login.testing import key_pair
from gateway.case.model import TrustLevel
from gateway.errors import InvalidPayload, InvalidRequest
from gateway.identity import LoginRejected
from tests.unit.citizen_login.conftest import World, first, make_world

EVIL = "EVIL-BPK2-OF-SOMEONE-ELSE"


@pytest.fixture
def plain(tmp_path: Path) -> World:
    """A service provider that accepts plaintext assertions (so wrapping can be tried on them)."""
    return make_world(tmp_path, idp_overrides={"require_encrypted_assertions": False})


def rejected(world: World, root: Any | bytes, check: str | set[str]) -> LoginRejected:
    with pytest.raises(LoginRejected) as caught:
        world.complete(root)
    checks = {check} if isinstance(check, str) else check
    assert caught.value.extensions.get("check") in checks, caught.value.detail
    return caught.value


def make_evil(element: Any) -> None:
    for value in element.iter(ns.q(ns.SAML, "AttributeValue")):
        if value.text == "SANDBOX-BPK2-ERIKA-0001":
            value.text = EVIL


def signature_of(element: Any) -> Any:
    return element.find(ns.q(ns.DS, "Signature"))


def the_assertion(root: Any) -> Any:
    return root.find(ns.q(ns.SAML, "Assertion"))


def test_the_control_response_is_accepted(plain: World) -> None:
    identity = plain.complete(plain.response(plain.spec(sign_response=True), encrypt=False))
    assert identity.pseudonym == "SANDBOX-BPK2-ERIKA-0001"


# -- signatures -------------------------------------------------------------------------------
def test_unsigned_encrypted_assertion(world: World) -> None:
    rejected(world, world.response(sign=False), "signature-missing")


def test_unsigned_plaintext_response_and_assertion(plain: World) -> None:
    rejected(plain, plain.response(sign=False, encrypt=False), "signature-missing")


def test_signature_by_an_attacker_key_with_its_certificate_in_keyinfo(world: World) -> None:
    world.idp_key = key_pair("attacker")
    rejected(world, world.response(), "signature-invalid")


def test_signature_from_the_rollover_certificate_is_accepted(tmp_path: Path) -> None:
    rolled = make_world(tmp_path, idp_signing="idp-sandbox-signing-2027")
    rolled.idp_key = key_pair("idp-sandbox-signing-2027")
    assert rolled.complete(rolled.response()).pseudonym == "SANDBOX-BPK2-ERIKA-0001"


def test_hmac_signature_method_with_a_key_in_keyinfo(plain: World) -> None:
    root = plain.response(encrypt=False)
    signature = signature_of(the_assertion(root))
    signature.find(f".//{ns.q(ns.DS, 'SignatureMethod')}").set("Algorithm",
                                                              "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
    key_info = signature.find(ns.q(ns.DS, "KeyInfo"))
    key_info.clear()
    etree.SubElement(key_info, ns.q(ns.DS, "KeyName")).text = "shared-secret"
    rejected(plain, root, "algorithm")


@pytest.mark.parametrize(("method", "digest"), [
    ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", ns.SHA256),
    (ns.RSA_SHA256, "http://www.w3.org/2000/09/xmldsig#sha1"),
], ids=["rsa-sha1", "sha1-digest"])
def test_sha1_downgrade(plain: World, method: str, digest: str) -> None:
    root = plain.response(sign=False, encrypt=False)
    xmldsig.sign(the_assertion(root), plain.idp_key, method, digest=digest)
    rejected(plain, root, "algorithm")


# -- signature wrapping (SAMLRaider XSW1-XSW8) -----------------------------------------------
def xsw1(root: Any) -> None:
    clone = copy.deepcopy(root)
    clone.remove(signature_of(clone))
    make_evil(root)
    signature_of(root).append(clone)
    root.set("ID", "_evil_response_ID")


def xsw2(root: Any) -> None:
    clone = copy.deepcopy(root)
    clone.remove(signature_of(clone))
    make_evil(root)
    signature_of(root).addprevious(clone)
    root.set("ID", "_evil_response_ID")


def xsw3(root: Any) -> None:
    assertion = the_assertion(root)
    evil = copy.deepcopy(assertion)
    make_evil(evil)
    evil.set("ID", "_evil_assertion_ID")
    evil.remove(signature_of(evil))
    assertion.addprevious(evil)


def xsw4(root: Any) -> None:
    assertion = the_assertion(root)
    evil = copy.deepcopy(assertion)
    make_evil(evil)
    evil.set("ID", "_evil_assertion_ID")
    evil.remove(signature_of(evil))
    root.append(evil)
    evil.append(assertion)


def xsw5(root: Any) -> None:
    evil = the_assertion(root)
    original = copy.deepcopy(evil)
    make_evil(evil)
    original.remove(signature_of(original))
    root.append(original)
    evil.set("ID", "_evil_assertion_ID")


def xsw6(root: Any) -> None:
    evil = the_assertion(root)
    signature = signature_of(evil)
    original = copy.deepcopy(evil)
    make_evil(evil)
    original.remove(signature_of(original))
    signature.append(original)
    evil.set("ID", "_evil_assertion_ID")


def xsw7(root: Any) -> None:
    assertion = the_assertion(root)
    extensions = etree.Element("Extensions")
    assertion.addprevious(extensions)
    evil = copy.deepcopy(assertion)
    make_evil(evil)
    evil.remove(signature_of(evil))
    extensions.append(evil)


def xsw8(root: Any) -> None:
    evil = the_assertion(root)
    signature = signature_of(evil)
    original = copy.deepcopy(evil)
    make_evil(evil)
    original.remove(signature_of(original))
    obj = etree.SubElement(signature, "Object")
    obj.append(original)


def object_plus_id(root: Any) -> None:
    """The signed original moved into a ds:Object (namespaced, as a real one) of the evil
    assertion's signature; the evil assertion takes a fresh ID."""
    evil = the_assertion(root)
    original = copy.deepcopy(evil)
    make_evil(evil)
    original.remove(signature_of(original))
    obj = etree.SubElement(signature_of(evil), ns.q(ns.DS, "Object"), Id="_object")
    obj.append(original)
    evil.set("ID", "_evil_assertion_ID")


WRAPPINGS: dict[str, tuple[Callable[[Any], None], set[str]]] = {
    "XSW1": (xsw1, {"duplicate-id", "assertion-count", "signature-reference"}),
    "XSW2": (xsw2, {"duplicate-id", "assertion-count", "signature-reference"}),
    "XSW3": (xsw3, {"assertion-count"}),
    "XSW4": (xsw4, {"assertion-count"}),
    "XSW5": (xsw5, {"assertion-count"}),
    "XSW6": (xsw6, {"assertion-count"}),
    "XSW7": (xsw7, {"duplicate-id", "assertion-count"}),
    "XSW8": (xsw8, {"duplicate-id"}),
    "object-plus-id": (object_plus_id, {"assertion-count"}),
}


@pytest.mark.parametrize("name", list(WRAPPINGS))
def test_signature_wrapping(plain: World, name: str) -> None:
    wrap, checks = WRAPPINGS[name]
    root = plain.response(plain.spec(sign_response=name in ("XSW1", "XSW2")), encrypt=False)
    wrap(root)
    rejected(plain, root, checks)


@pytest.mark.parametrize("name", ["XSW5", "XSW6", "object-plus-id"])
def test_wrapping_with_a_single_assertion_fails_the_reference_check(plain: World, name: str) -> None:
    """Without the count rule the reference rule alone still refuses the wrapped assertion:
    the decoy original is removed, the evil one keeps the signature that points elsewhere."""
    wrap, _ = WRAPPINGS[name]
    root = plain.response(encrypt=False)
    wrap(root)
    for element in list(root.iter(ns.q(ns.SAML, "Assertion"))):
        if element.get("ID") != "_evil_assertion_ID":
            element.getparent().remove(element)
    rejected(plain, root, {"signature-reference", "signature-structure"})


def test_assertion_in_response_extensions(plain: World) -> None:
    root = plain.response(encrypt=False)
    assertion = the_assertion(root)
    extensions = etree.Element(ns.q(ns.SAMLP, "Extensions"))
    root.find(ns.q(ns.SAML, "Issuer")).addnext(extensions)
    extensions.append(assertion)
    rejected(plain, root, "assertion-position")


def test_assertion_inside_an_assertion(plain: World) -> None:
    root = plain.response(encrypt=False)
    inner = plain.response(encrypt=False)
    the_assertion(root).append(the_assertion(inner))
    rejected(plain, root, "assertion-count")


def test_assertion_inside_an_encrypted_assertion_is_found_after_decryption(world: World) -> None:
    def nest(assertion: Any) -> None:
        spec = world.spec()
        inner = world.response(spec, sign=False, encrypt=False)
        assertion.append(the_assertion(inner))
    rejected(world, world.response(world.spec(edit_assertion=nest)), "assertion-position")


def test_several_assertions(plain: World) -> None:
    root = plain.response(encrypt=False)
    root.append(the_assertion(plain.response(encrypt=False)))
    rejected(plain, root, "assertion-count")


def test_duplicate_ids(plain: World) -> None:
    root = plain.response(encrypt=False)
    root.set("ID", the_assertion(root).get("ID"))
    rejected(plain, root, "duplicate-id")


# -- comments and entities in values ------------------------------------------------------
@pytest.mark.parametrize("where", ["NameID", "bPK2"])
def test_comment_inside_a_signed_value(plain: World, where: str) -> None:
    """Exclusive c14n drops comments, so the signature still verifies after the comment is
    inserted; a reader taking the first text node would see a shortened value."""
    root = plain.response(encrypt=False)
    if where == "NameID":
        target = first(root, "NameID")
    else:
        target = next(v for v in root.iter(ns.q(ns.SAML, "AttributeValue")) if v.text == "SANDBOX-BPK2-ERIKA-0001")
    value = target.text
    target.text = value[:8]
    comment = etree.Comment(" split ")
    comment.tail = value[8:]
    target.append(comment)
    rejected(plain, root, "comments")


@pytest.mark.parametrize("where", ["NameID", "bPK2"])
def test_entity_declared_in_a_doctype(plain: World, where: str) -> None:
    root = plain.response(encrypt=False)
    placeholder = "PLACEHOLDER-VALUE"
    if where == "NameID":
        first(root, "NameID").text = placeholder
    else:
        next(v for v in root.iter(ns.q(ns.SAML, "AttributeValue"))
             if v.text == "SANDBOX-BPK2-ERIKA-0001").text = placeholder
    body = to_bytes(root).split(b"?>", 1)[1].replace(placeholder.encode(), b"SANDBOX-&e;")
    data = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "BPK2-ERIKA-0001">]>' + body
    with pytest.raises(InvalidPayload, match="DOCTYPE"):
        plain.complete(data)


def test_undeclared_entity_reference(plain: World) -> None:
    data = to_bytes(plain.response(encrypt=False)).replace(b"SANDBOX-BPK2-ERIKA-0001", b"&evil;")
    with pytest.raises(InvalidPayload):
        plain.complete(data)


# -- times, audiences, addresses ------------------------------------------------------------
@pytest.mark.parametrize("minutes", [10, -10], ids=["expired", "not-yet-valid"])
def test_assertion_outside_its_validity(world: World, minutes: int) -> None:
    root = world.response()
    world.clock.now += dt.timedelta(minutes=minutes)
    rejected(world, root, "time")


def test_small_clock_differences_are_tolerated(world: World) -> None:
    root = world.response()
    world.clock.now += dt.timedelta(seconds=60)  # default skew 90 s
    assert world.complete(root).pseudonym == "SANDBOX-BPK2-ERIKA-0001"


def test_conditions_expired_while_confirmation_still_valid(world: World) -> None:
    def shorten(assertion: Any) -> None:
        first(assertion, "Conditions").set("NotOnOrAfter", "2026-05-04T09:50:00Z")
    rejected(world, world.response(world.spec(edit_assertion=shorten)), "time")


@pytest.mark.parametrize(("change", "check"), [
    ({"audience": "https://other-sp.example/saml"}, "audience"),
    ({"acs_url": "https://gateway.tangerhuette.test/other/acs"}, {"destination", "recipient"}),
    ({"issuer": "https://evil-idp.example/idp"}, "issuer"),
    ({"request_id": "_someone_elses_request"}, "in-response-to"),
])
def test_wrong_addressing(world: World, change: dict[str, Any], check: str | set[str]) -> None:
    rejected(world, world.response(world.spec(**change)), check)


def test_wrong_recipient_with_right_destination(world: World) -> None:
    def elsewhere(assertion: Any) -> None:
        first(assertion, "SubjectConfirmationData").set("Recipient", "https://evil.example/acs")
    rejected(world, world.response(world.spec(edit_assertion=elsewhere)), "recipient")


def test_wrong_in_response_to_in_the_assertion(world: World) -> None:
    def other(assertion: Any) -> None:
        first(assertion, "SubjectConfirmationData").set("InResponseTo", "_another_request")
    rejected(world, world.response(world.spec(edit_assertion=other)), "in-response-to")


def test_wrong_destination_on_the_response(world: World) -> None:
    root = world.response()
    root.set("Destination", "https://evil.example/acs")
    rejected(world, root, "destination")


def test_wrong_issuer_on_the_response(world: World) -> None:
    root = world.response()
    root.find(ns.q(ns.SAML, "Issuer")).text = "https://evil-idp.example/idp"
    rejected(world, root, "issuer")


def test_unsolicited_response(world: World) -> None:
    rejected(world, world.response(world.spec(request_id=None)), "in-response-to")


def test_response_without_a_known_relay_state(world: World) -> None:
    with pytest.raises(LoginRejected) as caught:
        world.login.complete(world.fields(world.response(), relay="forged-relay-state"))
    assert caught.value.extensions["check"] == "in-response-to"


def test_replayed_response(world: World) -> None:
    root = world.response()
    world.complete(copy.deepcopy(root))
    rejected(world, root, "in-response-to")


def test_replayed_assertion_is_caught_by_the_replay_cache(world: World) -> None:
    """Even past the one-time request check (a second process, a restored pending entry), the
    assertion ID is accepted once."""
    data = to_bytes(world.response())
    processor = world.login._processor
    expectation = Expectation(world.request_id, TrustLevel.SUBSTANTIELL)
    processor.process(data, expectation)
    with pytest.raises(LoginRejected) as caught:
        processor.process(data, expectation)
    assert caught.value.extensions["check"] == "replay"


def test_plaintext_assertion_where_encryption_is_required(world: World) -> None:
    rejected(world, world.response(encrypt=False), "encryption-required")


def test_sha1_free_oaep_and_cbc_content_are_accepted(world: World) -> None:
    spec = world.spec(content_encryption=ns.AES128_CBC, key_transport=ns.RSA_OAEP_MGF1P)
    assert world.complete(world.response(spec)).pseudonym == "SANDBOX-BPK2-ERIKA-0001"


def test_triple_des_content_encryption_is_refused(world: World) -> None:
    root = world.response()
    first(root, "EncryptedData").find(ns.q(ns.XENC, "EncryptionMethod")).set(
        "Algorithm", "http://www.w3.org/2001/04/xmlenc#tripledes-cbc")
    rejected(world, root, "decryption")


# -- trust levels -----------------------------------------------------------------------------
def test_trust_level_below_the_requested_minimum(world: World) -> None:
    spec = world.spec(level="STORK-QAA-Level-1")
    spec.attributes[a.TRUST_LEVEL] = "STORK-QAA-Level-1"
    rejected(world, world.response(spec), "trust-level")


def test_trust_attribute_contradicting_the_authn_context(world: World) -> None:
    spec = world.spec(level="STORK-QAA-Level-3")
    spec.attributes[a.TRUST_LEVEL] = "HOCH"
    rejected(world, world.response(spec), "trust-level")


def test_unknown_attribute_trust_spelling(world: World) -> None:
    rejected(world, world.response(world.spec(attribute_trust={a.BPK2: "MITTEL"})), "attribute-trust")


def test_attributes_are_read_by_name_never_by_friendly_name(world: World) -> None:
    def rename(assertion: Any) -> None:
        for attribute in assertion.iter(ns.q(ns.SAML, "Attribute")):
            if attribute.get("Name") == a.BPK2:
                attribute.set("Name", "urn:oid:1.2.3.4")  # FriendlyName still says bPK2
    rejected(world, world.response(world.spec(edit_assertion=rename)), "pseudonym")


def test_control_characters_in_a_value(world: World) -> None:
    spec = world.spec()
    spec.attributes[a.GIVEN_NAME] = "Erika\u202eakirE"
    rejected(world, world.response(spec), "attribute-value")


def test_values_are_normalised_to_nfc(world: World) -> None:
    spec = world.spec()
    spec.attributes[a.SURNAME] = "O\u0308zdemir"  # O + combining diaeresis
    assert world.complete(world.response(spec)).attributes["family_name"] == "\u00d6zdemir"


def test_postbox_handle_must_be_a_uuid(world: World) -> None:
    spec = world.spec()
    spec.attributes[a.POSTBOX_HANDLE] = "erika.mustermann"
    rejected(world, world.response(spec), "attribute-value")


# -- parser limits and differentials -------------------------------------------------------
def test_xxe_external_entity(plain: World) -> None:
    data = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + to_bytes(plain.response(encrypt=False)).split(b"?>", 1)[1].replace(b"SANDBOX-BPK2", b"&x;"))
    with pytest.raises(InvalidPayload, match="DOCTYPE"):
        plain.complete(data)


def test_dtd_without_entities(plain: World) -> None:
    data = b'<!DOCTYPE Response SYSTEM "http://evil.example/saml.dtd">' + to_bytes(plain.response(encrypt=False))
    with pytest.raises(InvalidPayload):
        plain.complete(data)


def test_oversized_response(world: World) -> None:
    data = b"<x>" + b"A" * (world.container.options.max_response_bytes + 10) + b"</x>"
    rejected(world, data, "size")


def test_deeply_nested_response(plain: World) -> None:
    root = plain.response(encrypt=False)
    holder = first(root, "Status")
    for _ in range(60):
        holder = etree.SubElement(holder, ns.q(ns.SAMLP, "StatusDetail"))
    with pytest.raises(InvalidPayload, match="nested"):
        plain.complete(root)


def test_deflate_bomb_in_the_redirect_binding() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"\0" * (64 * 1024 * 1024)) + bomb.flush()
    assert len(data) < 128 * 1024
    with pytest.raises(LoginRejected) as caught:
        bindings.inflate(data)
    assert caught.value.extensions["check"] == "size"


def test_deflate_bomb_in_a_signed_redirect_message(world: World) -> None:
    """Even signed by the identity provider, the inflated size is bounded."""
    element = etree.Element(ns.q(ns.SAMLP, "LogoutResponse"))
    element.text = "A" * (1024 * 1024)
    step = bindings.redirect(element, "https://gateway.test/slo", "SAMLResponse", "r", world.idp_key)
    query = step.url.split("?", 1)[1]
    meta = world.login.metadata.current()
    with pytest.raises(LoginRejected) as caught:
        bindings.decode_redirect(query, "SAMLResponse", meta.signing_certificates)
    assert caught.value.extensions["check"] == "size"


def test_redirect_message_with_a_forged_signature(world: World) -> None:
    element = etree.Element(ns.q(ns.SAMLP, "LogoutResponse"))
    step = bindings.redirect(element, "https://gateway.test/slo", "SAMLResponse", "r", key_pair("attacker"))
    with pytest.raises(LoginRejected) as caught:
        bindings.decode_redirect(step.url.split("?", 1)[1], "SAMLResponse",
                                 world.login.metadata.current().signing_certificates)
    assert caught.value.extensions["check"] == "signature-invalid"


def test_namespace_redefinition_of_the_assertion_prefix(plain: World) -> None:
    """An element spelled ``saml:Assertion`` whose prefix is rebound to another namespace is
    no SAML assertion; a prefix-matching reader would take it for one."""
    data = to_bytes(plain.response(encrypt=False))
    decoy = (b'<saml:Assertion xmlns:saml="urn:evil" ID="_decoy" Version="2.0">'
             b'<saml:Issuer>x</saml:Issuer></saml:Assertion></samlp:Response>')
    data = data.replace(b"</samlp:Response>", decoy)
    rejected(plain, data, "assertion-count")


def test_foreign_namespace_attribute_inside_the_statement(plain: World) -> None:
    def foreign(assertion: Any) -> None:
        statement = first(assertion, "AttributeStatement")
        evil = etree.SubElement(statement, "{urn:evil}Attribute", Name=a.BPK2)
        etree.SubElement(evil, "{urn:evil}AttributeValue").text = EVIL
    rejected(plain, plain.response(plain.spec(edit_assertion=foreign), encrypt=False), "attribute-value")


def test_namespaced_id_attribute_does_not_count_as_the_id(plain: World) -> None:
    """Two parsers may disagree whether ``x:ID`` is an ID; here it never is — the signature must
    reference the unprefixed ID of the element it is enveloped in."""
    root = plain.response(encrypt=False)
    assertion = the_assertion(root)
    original = assertion.get("ID")
    make_evil(assertion)
    assertion.set("ID", "_evil_assertion_ID")
    assertion.set("{urn:x}ID", original)
    rejected(plain, root, "signature-reference")


def test_duplicate_attribute_names(plain: World) -> None:
    def twice(assertion: Any) -> None:
        statement = first(assertion, "AttributeStatement")
        statement.append(copy.deepcopy(next(x for x in statement if x.get("Name") == a.BPK2)))
    rejected(plain, plain.response(plain.spec(edit_assertion=twice), encrypt=False), "attribute-name")


# -- RelayState and the way back ------------------------------------------------------------
def test_return_to_a_foreign_host_is_refused_at_the_start(world: World) -> None:
    with pytest.raises(InvalidRequest):
        world.login.begin(TrustLevel.NIEDRIG, "https://evil.example/steal")


@pytest.mark.parametrize("target", ["//evil.example/x", "https://portal.tangerhuette.test.evil.example/x",
                                    "https://portal.tangerhuette.test\\@evil.example/", "javascript:alert(1)"])
def test_return_to_lookalikes_are_refused(world: World, target: str) -> None:
    with pytest.raises(InvalidRequest):
        world.login.begin(TrustLevel.NIEDRIG, target)


def test_relay_state_naming_a_foreign_host_finds_no_login(world: World) -> None:
    with pytest.raises(LoginRejected) as caught:
        world.login.complete(world.fields(world.response(), relay="https://evil.example/"))
    assert caught.value.extensions["check"] == "in-response-to"
