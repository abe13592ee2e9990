"""Entry point ``adapters.hybridmail.plugin:install``: the ``hybridmail`` reply channel (E-POST).

::

    adapters:
      hybridmail:
        vendor_id: "..."
        ekp: "..."
        secret: "..."
        password: "..."
        test_flag: false          # production prints and posts; the default true only tests
        sender: {name: Stadt Tangerhütte, street: Bismarckstraße 5, zip_code: "39517", city: Tangerhütte}
        authority_name: Einheitsgemeinde Stadt Tangerhütte

See README.md for every option. Letters are prepared in ``<data_dir>/hybridmail``."""

from __future__ import annotations

from pydantic import ValidationError

from adapters.hybridmail.options import EPostOptions
from adapters.hybridmail.reply_channel import CHANNEL, HybridMailReplyChannel
from adapters.hybridmail.sender import HybridMailSender
from gateway.errors import ConfigurationError
from gateway.plugins import AdapterContext
from gateway.store.files import private_dir


def load_options(raw: dict[str, object]) -> EPostOptions:
    try:
        return EPostOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigurationError(f"adapters.hybridmail.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def install(ctx: AdapterContext) -> None:
    options = load_options(ctx.options)
    work_dir = (ctx.data_dir or ctx.base_dir / "var") / "hybridmail"
    private_dir(work_dir)  # letters hold personal data: 0700
    sender = HybridMailSender(options, work_dir=work_dir, base_dir=ctx.base_dir)
    ctx.adapters.reply_channels.register(CHANNEL, HybridMailReplyChannel(sender, ctx.state, work_dir))
