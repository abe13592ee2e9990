"""XTA 2 Version 3 channel: fetch and send XÖV messages through an XTA server.

Start reading at :mod:`adapters.xta.plugin`; the wire format lives in :mod:`.soap`,
:mod:`.mtom` and :mod:`.metadata`, the client in :mod:`.client`, the local stand-in
server in :mod:`.sandbox`.
"""
