"""Request dependencies as ``Annotated`` aliases: the gateway and the authenticated client.

Both are ``async``: they do no I/O (token checks are cached HMACs), and a plain function
would cost every request a hop through the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.api.auth import Principal, TokenService
from gateway.bootstrap import Gateway
from gateway.errors import AuthenticationFailed


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def get_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("a Bearer access token is required")
    tokens: TokenService = request.app.state.tokens
    return tokens.verify(token.strip())


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
