"""Authenticate: bearer keys checked against the SHA-256 hashes of the tenants' keys."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from slokit.gateway.config import TenantConfig
from slokit.gateway.pipeline import Call, Handler, Reply
from slokit.gateway.wire import ApiError

_BEARER = b"bearer "


class AuthenticateStage:
    """Names the tenant of a call from its ``Authorization: Bearer KEY`` header, or 401.

    Only hashes are kept and compared, so the keys are in neither memory nor logs; the error
    never repeats the key it was sent.
    """

    __slots__ = ("_by_hash",)

    def __init__(self, tenants: Sequence[TenantConfig]) -> None:
        self._by_hash = {tenant.key_sha256: tenant for tenant in tenants}

    async def handle(self, call: Call, forward: Handler) -> Reply:
        header = call.headers.get(b"authorization", b"")
        if header[:7].lower() != _BEARER:
            raise ApiError(
                401,
                "missing API key: send it as 'Authorization: Bearer KEY'",
                error_type="authentication_error",
                code="missing_api_key",
            )
        tenant = self._by_hash.get(hashlib.sha256(header[7:].strip()).hexdigest())
        if tenant is None:
            raise ApiError(
                401,
                "incorrect API key provided",
                error_type="authentication_error",
                code="invalid_api_key",
            )
        call.tenant = tenant
        return await forward(call)
