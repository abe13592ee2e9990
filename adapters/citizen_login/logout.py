"""The identity provider's answer to our LogoutRequest (HTTP-Redirect: signed query; HTTP-POST:
signed XML). Only an answer to a logout we started is accepted, once."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.citizen_login import bindings, ns, structure, xmldsig
from adapters.citizen_login.pending import PendingLogin
from adapters.citizen_login.service import SamlLogin
from gateway.identity import LoginRejected


def check_logout_response(login: SamlLogin, query: str | None, form: Mapping[str, str]) -> PendingLogin:
    meta = login.metadata.current()
    if query is not None:
        data, relay = bindings.decode_redirect(query, "SAMLResponse", meta.signing_certificates)
        fields = {"RelayState": relay or ""}
    else:
        data = bindings.b64decode(form.get("SAMLResponse", ""), 256 * 1024)
        fields = dict(form)
    pending = login.pending_for(fields, "logout")
    root = structure.parse_message(data, 256 * 1024)
    if root.tag != ns.q(ns.SAMLP, "LogoutResponse"):
        raise LoginRejected("the message is not a LogoutResponse", check="structure")
    structure.check_unique_ids(root)
    if query is None:
        xmldsig.verify(root, meta.signing_certificates)
    issuer = root.find(ns.q(ns.SAML, "Issuer"))
    if issuer is None or (issuer.text or "").strip() != meta.entity_id:
        raise LoginRejected("the issuer is not the configured identity provider", check="issuer")
    if root.get("InResponseTo") != pending.request_id or root.get("Destination") != login.sp.slo_url:
        raise LoginRejected("the logout answer does not belong to this logout", check="in-response-to")
    return pending
