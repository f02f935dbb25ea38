"""The base of every client one Latchkey service uses to call another's internal API."""

from typing import Any, ClassVar

import aiohttp
from pydantic import SecretStr

from latchkey.common import errors
from latchkey.common.credentials import service_headers

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=2)


class ServiceError(Exception):
    """The other service answered with an error envelope."""

    def __init__(self, status: int, reason: str, message: str, data: Any = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.data = data

    def relay(self) -> errors.ApiError:
        """The same error, for our own caller (a 4xx the other service found in their input)."""
        return errors.ApiError.of(self.status, self.reason, self.message, data=self.data)


class ServiceClient:
    """Calls with the service credential; not reaching the service raises `unavailable`."""

    unavailable: ClassVar[type[errors.ApiError]] = errors.ServiceUnavailable

    def __init__(
        self,
        base_url: str,
        credential: SecretStr,
        session: aiohttp.ClientSession,
        *,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = service_headers(credential)
        self._session = session
        self._timeout = timeout

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: aiohttp.ClientTimeout | None = None,
        bearer: str | None = None,
    ) -> Any:
        """Call with the service credential, or with `bearer` (a user's token) instead."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else self._headers
        try:
            async with self._session.request(
                method,
                self._base_url + path,
                json=json,
                headers=headers,
                timeout=timeout or self._timeout,
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise self.unavailable() from exc
        if response.status >= 500 or not isinstance(body, dict):
            raise self.unavailable()
        if response.status < 400 and "data" not in body:
            raise self.unavailable()  # not the envelope: not a service of ours
        if response.status >= 400:
            raise ServiceError(
                response.status,
                str(body.get("reason", "")),
                str(body.get("message", "")),
                body.get("data"),
            )
        return body["data"]
