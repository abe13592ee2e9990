"""Plug the FIT-Connect channel into the gateway (entry point ``rathaus_gateway.adapters``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import ValidationError

from adapters.fitconnect import jose, zbp
from adapters.fitconnect.announcements import AnnouncedFirst, Announcements
from adapters.fitconnect.api import SubmissionApi
from adapters.fitconnect.callback import CallbackAuthenticator, callback_router
from adapters.fitconnect.channel import FitConnectChannel
from adapters.fitconnect.content import Registries
from adapters.fitconnect.events import EventVerifier
from adapters.fitconnect.keycheck import load_anchors
from adapters.fitconnect.keys import DestinationKeys
from adapters.fitconnect.metadata import MetadataSchemas
from adapters.fitconnect.options import FitConnectOptions
from adapters.fitconnect.outbound import Outbound
from adapters.fitconnect.postbox import PostboxChannel
from adapters.fitconnect.reply_channel import FitConnectReplyChannel
from adapters.fitconnect.routing import RoutingApi
from adapters.fitconnect.schemas import DataSchemaRegistry
from adapters.fitconnect.sender import FitConnectSender
from adapters.fitconnect.source import FitConnectSource
from adapters.fitconnect.tokens import TokenSource
from adapters.fitconnect.verify import Verifier
from gateway.errors import ConfigurationError
from gateway.plugins import AdapterContext
from gateway.ports import BlobStore, StateStore

log = logging.getLogger(__name__)


@dataclass
class Wiring:
    """Everything one configured FIT-Connect channel consists of (also used by tests/bench)."""

    options: FitConnectOptions
    channel: FitConnectChannel
    source: FitConnectSource
    sender: FitConnectSender
    callbacks: CallbackAuthenticator
    replies: FitConnectReplyChannel
    postbox: PostboxChannel | None = None


def parse_options(raw: dict[str, object]) -> FitConnectOptions:
    try:
        return FitConnectOptions.model_validate(raw)
    except ValidationError as exc:
        # Field locations and messages only: the input values (secrets) stay out.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"adapters.fitconnect: {problems}") from None


def build(options: FitConnectOptions, base_dir: Path, state: StateStore, blobs: BlobStore,
          http: httpx.Client | None = None) -> Wiring:
    """Wire one channel; ``state`` is shared by every process (sender progress, callback replays),
    ``blobs`` keeps the parts of every fetched submission."""
    def path(p: Path) -> Path:
        return p if p.is_absolute() else base_dir / p

    http = http or httpx.Client(timeout=options.http_timeout_seconds, follow_redirects=False)
    anchors = load_anchors(path(options.trust_anchor).read_bytes())
    keys = {d.id: DestinationKeys.load([path(p) for p in d.decryption_keys], path(d.signing_key))
            for d in options.destinations}
    tokens = TokenSource(http, options.token_url, options.client_id, options.client_secret.get_secret_value())
    api = SubmissionApi(options.submission_api_url, tokens, http)
    sender_api = api
    if options.sender_client_id:
        secret = options.sender_client_secret or options.client_secret
        sender_api = SubmissionApi(options.submission_api_url,
                                   TokenSource(http, options.token_url, options.sender_client_id,
                                               secret.get_secret_value()), http)
    events = EventVerifier(api, options.issuer, options.effective_jwks_url, anchors,
                           {dest: k.signing for dest, k in keys.items()})
    registries = Registries.from_limits(options.limits)
    metadata_schemas = MetadataSchemas()
    for destination in options.destinations:
        unknown = set(destination.metadata_versions or []) - set(metadata_schemas.versions)
        if unknown:
            raise ConfigurationError(f"adapters.fitconnect: destination {destination.id} announces metadata "
                                     f"versions without a schema here: {', '.join(sorted(unknown))}")
    verifier = Verifier(options=options, keys=keys, events=events, metadata_schemas=metadata_schemas,
                        data_schemas=DataSchemaRegistry(), registries=registries, blobs=blobs)
    channel = FitConnectChannel(verifier=verifier, api=api, events=events, keys=keys, blobs=blobs)
    source = FitConnectSource(api, options, blobs)
    sender_events = EventVerifier(sender_api, options.issuer, options.effective_jwks_url, anchors, {})
    outbound = Outbound(sender_api, anchors, jose.FitConnectJWERegistry(
        options.limits.max_attachment_bytes * 2, options.limits.max_inflated_bytes),
        fragment_bytes=options.forwarding.fragment_bytes)
    routing = RoutingApi(options.routing.url, options.routing.portal_jwks_url, options.routing.portal_issuer,
                         options.submission_api_url, http) if options.routing is not None else None
    sender = FitConnectSender(sender_api, outbound, sender_events, state, options.forwarding, routing)
    postbox = None
    if options.postbox is not None:
        author = zbp.Author.load(path(options.postbox.author_key), path(options.postbox.author_certificate))
        postbox_outbound = Outbound(sender_api, anchors, jose.FitConnectJWERegistry(
            options.postbox.max_document_bytes * 2, options.limits.max_inflated_bytes),
            target_ttl_seconds=options.postbox.destination_ttl_seconds)
        postbox = PostboxChannel(sender_api, postbox_outbound, sender_events, state, options.postbox, author)
    # answers go back through the client that subscribes to the case's destination
    replies = FitConnectReplyChannel(api, events, state, options.replies, jose.FitConnectJWERegistry(
        options.replies.max_document_bytes * 2, options.limits.max_inflated_bytes))
    return Wiring(options=options, channel=channel, source=source, sender=sender,
                  callbacks=CallbackAuthenticator(options, state), replies=replies, postbox=postbox)


def install(ctx: AdapterContext) -> None:
    options = parse_options(ctx.options)
    wiring = build(options, ctx.base_dir, ctx.state, ctx.blobs)
    # a callback only records what it announces (API process); the worker's source fetches it
    announcements = Announcements(ctx.state)
    ctx.adapters.channels.register("fitconnect", wiring.channel)
    ctx.adapters.sources.register("fitconnect", AnnouncedFirst(wiring.source, announcements))
    ctx.adapters.senders.register("fitconnect", wiring.sender)
    ctx.adapters.reply_channels.register("fitconnect", wiring.replies)
    if wiring.postbox is not None:
        ctx.adapters.reply_channels.register("postbox", wiring.postbox)
    ctx.routers.append(callback_router(wiring.callbacks, announcements.record))
