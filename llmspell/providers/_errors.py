"""Sorting provider failures into kinds, with a short cause a user can act on."""

from __future__ import annotations

import dataclasses
import re

_PREFIX = re.compile(r"^(?:litellm\.)?\w+(?:Error|Exception|Timeout)?:\s+|^\w+Exception - ")
_NETWORK_MODULES = ("httpx", "httpcore", "aiohttp", "openai", "litellm", "ssl", "socket")
# What providers and SDKs say when no key was given or the key was refused, whatever status
# litellm puts on it (a missing OpenAI key arrives as an "HTTP 500").
_CREDENTIALS = re.compile(
    r"missing credentials|api[_ ]key client option must be set|missing [\w ]*api[_ ]key"
    r"|no api[_ ]key|api[_ ]key (?:is )?(?:missing|not set|required)"
    r"|(?:invalid|incorrect) api[_ ]key",
    re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True)
class Failure:
    """One failed attempt.

    Attributes:
        kind: ``rate_limit``, ``server``, ``connection``, ``timeout``, ``bad_request``,
            ``auth``, ``not_found`` or ``error``.
        cause: a one-line description for :class:`ProviderError`.
        retry_after: seconds the server asked us to wait, if it said.
    """

    kind: str
    cause: str
    retry_after: float | None = None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _names(exc: BaseException) -> set[str]:
    return {f"{cls.__module__.split('.')[0]}.{cls.__name__}" for cls in type(exc).__mro__}


def short_message(exc: BaseException) -> str:
    """The first line of ``exc``'s message without litellm's ``Kind: KindException -`` prefixes."""
    text = str(getattr(exc, "message", None) or exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    while True:
        stripped = _PREFIX.sub("", line, count=1)
        if stripped == line:
            break
        line = stripped
    return line[:300] or type(exc).__name__


def classify(exc: BaseException, *, api_base: str | None, timeout: float) -> Failure:
    """Sort ``exc`` (raised by litellm or by our deadline) into a :class:`Failure`."""
    where = f" from {api_base}" if api_base else ""
    chain = _chain(exc)
    names = set().union(*(_names(e) for e in chain))
    inner = set().union(*(_names(e) for e in chain[1:]))
    if isinstance(exc, TimeoutError) or inner & {
        "openai.APITimeoutError",
        "httpx.TimeoutException",
    }:
        return Failure("timeout", f"timed out after {float(timeout)}s")
    if "openai.APITimeoutError" in names:  # the provider said so (HTTP 408, or a custom provider)
        return Failure("timeout", f"timed out{where}: {short_message(exc)}")
    if names & {"httpx.ConnectError", "builtins.ConnectionError", "aiohttp.ClientConnectorError"}:
        root = short_message(chain[-1])
        target = api_base or "the provider"
        return Failure("connection", f"cannot connect to {target}: {root}")
    if "openai.APIConnectionError" in names:
        foreign = [e for e in chain[1:] if not type(e).__module__.startswith(_NETWORK_MODULES)]
        if foreign:  # litellm wraps any exception of the provider code as a "connection" error
            return Failure("error", f"{type(foreign[0]).__name__}: {short_message(foreign[0])}")
        return Failure("connection", f"connection error{where}: {short_message(exc)}")
    status = getattr(exc, "status_code", None)
    message = short_message(exc)
    if status in (401, 403) or any(_CREDENTIALS.search(short_message(e)) for e in chain):
        # litellm labels a missing OpenAI key "HTTP 500": show a status only when a server sent it
        return Failure(
            "auth", f"HTTP {status}{where}: {message}" if status in (401, 403) else message
        )
    if any(type(e).__module__ == "openai._exceptions" and _client_side(e) for e in chain):
        return Failure("auth" if "credential" in message.lower() else "error", message)
    if not isinstance(status, int):
        return Failure("error", f"{type(exc).__name__}: {message}")
    cause = f"HTTP {status}{where}: {message}"
    if status == 429:
        return Failure("rate_limit", cause, _retry_after(exc))
    if status == 408:
        return Failure("timeout", cause)
    if status >= 500:
        return Failure("server", cause, _retry_after(exc))
    if status in (401, 403):
        return Failure("auth", cause)
    if status == 404:
        return Failure("not_found", cause)
    return Failure("bad_request", cause)


def _client_side(exc: BaseException) -> bool:
    """An ``openai.OpenAIError`` raised before any request (e.g. missing credentials)."""
    return type(exc).__name__ == "OpenAIError"


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None)
    response = getattr(exc, "response", None)
    if headers is None and response is not None:
        headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None
