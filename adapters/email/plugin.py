"""Entry point ``adapters.email.plugin:install``: the ``email`` reply channel.

::

    adapters:
      email:
        relay: {host: smtp.kommune.example, port: 587, ca_file: secrets/relay-ca.pem}
        sender: {authority_name: Stadt Tangerhütte, from_address: bescheide@tangerhuette.de,
                 message_id_domain: gateway.tangerhuette.de,
                 fetch_url_template: "https://portal.tangerhuette.de/postfach?vorgang={reference}"}

See README.md for every option."""

from __future__ import annotations

from pydantic import ValidationError

from adapters.email.options import MailOptions
from adapters.email.reply_channel import CHANNEL, EmailReplyChannel
from adapters.email.sender import MailReplySender
from gateway.errors import ConfigurationError
from gateway.plugins import AdapterContext


def load_options(raw: dict[str, object]) -> MailOptions:
    try:
        return MailOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigurationError(f"adapters.email.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def install(ctx: AdapterContext) -> None:
    options = load_options(ctx.options)
    ctx.adapters.reply_channels.register(CHANNEL, EmailReplyChannel(MailReplySender(options, base_dir=ctx.base_dir)))
