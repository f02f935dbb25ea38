"""The base of every client one Latchkey service uses to call another's internal API."""

from typing import Any, ClassVar, TypeVar

import aiohttp
from pydantic import BaseModel, TypeAdapter, ValidationError

from latchkey.common import errors
from latchkey.common.contracts import REVEAL_SECRETS
from latchkey.common.credentials import ServiceCredentials

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=2)

Answer = TypeVar("Answer")


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
    """Calls with this service's own credential; not reaching the service raises
    `unavailable`."""

    unavailable: ClassVar[type[errors.ApiError]] = errors.ServiceUnavailable

    def __init__(
        self,
        base_url: str,
        credentials: ServiceCredentials,
        session: aiohttp.ClientSession,
        *,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = credentials.headers()
        self._session = session
        self._timeout = timeout

    async def _call(
        self,
        method: str,
        path: str,
        answer: type[Answer],
        *,
        body: BaseModel | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
        bearer: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Call with this service's credential (or with `bearer`, a user's token, instead)
        and read the envelope's data as `answer`: anything else is `unavailable`, for what
        does not follow the contract is not a service of ours."""
        sent = {**({"Authorization": f"Bearer {bearer}"} if bearer else self._headers)}
        sent.update(headers or {})
        payload = (
            body.model_dump(mode="json", by_alias=True, context=REVEAL_SECRETS)
            if body is not None
            else None
        )
        try:
            async with self._session.request(
                method,
                self._base_url + path,
                json=payload,
                headers=sent,
                timeout=timeout or self._timeout,
            ) as response:
                data = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self.unavailable() from exc
        if response.status >= 500:
            raise self.unavailable()
        try:
            envelope = _ENVELOPE.validate_json(data)
            if response.status >= 400:
                raise ServiceError(
                    response.status,
                    str(envelope.get("reason", "")),
                    str(envelope.get("message", "")),
                    envelope.get("data"),
                )
            if "data" not in envelope:
                raise self.unavailable()
            return _adapter(answer).validate_python(envelope["data"])
        except ValidationError as exc:
            raise self.unavailable() from exc


_ENVELOPE: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(answer: type[Answer]) -> TypeAdapter[Answer]:
    adapter = _ADAPTERS.get(answer)
    if adapter is None:
        adapter = _ADAPTERS[answer] = TypeAdapter(answer)
    return adapter
