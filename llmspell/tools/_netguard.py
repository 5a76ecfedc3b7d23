"""Where ``http_fetch`` may connect: host allowlists and address checks at connect time.

The address check lives in `GuardedBackend`, an httpcore network backend: it resolves the
host itself, refuses the connection if any address is not allowed, and connects to the
address it checked, so there is no gap between checking a name and using it (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.169.123", "100.100.100.200",
              "fd00:ec2::254", "fd00:ec2::23")
)  # fmt: skip
"""Cloud instance-metadata endpoints: refused even when private addresses are allowed."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)
_HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


class AddressRefused(Exception):
    """A connection was refused before it was attempted; the message says why.

    Attributes:
        private: ``http_allow_private`` would have allowed the address.
    """

    def __init__(self, message: str, *, private: bool = False) -> None:
        super().__init__(message)
        self.private = private


def normalize_host(host: str) -> str:
    """Lower-case ``host``, strip brackets and a trailing dot, and check its form.

    Raises:
        AddressRefused: the host is malformed or a non-canonical IPv4 form such as
            ``2130706433``, ``0x7f.1`` or ``0177.0.0.1``.
    """
    host = host.strip("[]").lower().rstrip(".")
    if not host:
        raise AddressRefused("the URL has no host")
    if _parse_ip(host) is not None:
        return host
    if _LEGACY_IPV4.fullmatch(host):
        raise AddressRefused(f"host {host!r} is an IP address in a non-standard notation")
    if not _HOSTNAME.fullmatch(host):
        raise AddressRefused(f"host {host!r} is not a valid host name")
    return host


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether normalised ``host`` matches an allowlist entry (``name``, ``*.domain``, ``*``)."""
    ip = _parse_ip(host)
    for pattern in patterns:
        pattern = pattern.strip("[]").lower().rstrip(".")
        if pattern == "*" or pattern == host:
            return True
        if ip is not None and _parse_ip(pattern) == ip:
            return True
        if ip is None and pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def address_problem(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why a connection to ``ip`` is refused (e.g. ``"a loopback address"``), or None.

    IPv4 addresses embedded in IPv6 ones (mapped, 6to4, Teredo, NAT64) are judged as IPv4.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            problem = address_problem(embedded, allow_private=allow_private)
            return f"{problem} (as {ip})" if problem else None
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%")[0])
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    private = "a loopback address" if ip.is_loopback else None
    if private is None and ip.is_reserved:
        return "a reserved or broadcast address"
    if private is None and ip.is_link_local:
        private = "a link-local address"
    if private is None and (ip.is_private or not ip.is_global):
        private = "a private address"
    return None if allow_private else private


async def resolve_host(host: str, port: int) -> list[str]:
    """Resolve ``host`` to IP address strings (the resolver `GuardedBackend` uses)."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore backend that connects only to addresses `address_problem` allows.

    Args:
        allow_private: allow loopback, private and link-local addresses.
        inner: the backend that makes the connections (default: httpcore's auto backend).
    """

    def __init__(
        self, *, allow_private: bool, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.allow_private = allow_private
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host``, refuse it if any address is not allowed, connect to a checked one.

        Raises:
            AddressRefused: the host resolves to an address that is not allowed.
            httpcore.ConnectError: no checked address accepted the connection.
        """
        name = normalize_host(host)
        literal = _parse_ip(name)
        try:
            with anyio.fail_after(timeout):
                addresses = [name] if literal is not None else await resolve_host(name, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {name!r} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {name!r}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{name!r} has no addresses")
        checked = []
        for address in addresses:
            ip = _parse_ip(address)
            problem = "not an IP address" if ip is None else None
            if ip is not None:
                problem = address_problem(ip, allow_private=self.allow_private)
            if problem is not None:
                where = (
                    f"{address} is" if literal is not None else f"{name!r} resolves to {address},"
                )
                private = ip is not None and address_problem(ip, allow_private=True) is None
                raise AddressRefused(f"{where} {problem}", private=private)
            checked.append(str(ip))
        error: Exception | None = None
        for address in checked:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise httpcore.ConnectError(f"cannot connect to {name!r}: {error}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refused: ``http_fetch`` never uses Unix sockets."""
        raise AddressRefused("Unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Sleep on the inner backend (httpcore uses it between retries)."""
        await self._inner.sleep(seconds)


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
