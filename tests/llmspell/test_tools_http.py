"""``http_fetch``: allowed fetches from a local server, and every SSRF refusal.

Every test here runs under `network_guard`, which makes any attempt to reach a non-loopback
address (connect, or a DNS look-up) fail the test, so a refusal that came too late (after a
connection) cannot pass.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web

from llmspell._exceptions import ToolError
from llmspell.tools import Permissions, ToolContext, ToolRegistry, _netguard, builtin_tools

pytestmark = pytest.mark.anyio


def _loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkGuard:
    """Records connection attempts; refuses (and records as violations) non-loopback ones."""

    def __init__(self) -> None:
        self.attempts: list[Any] = []
        self.violations: list[str] = []

    def check(self, what: str, host: Any, port: Any = None) -> None:
        self.attempts.append((what, host, port))
        if not _loopback(host):
            self.violations.append(f"{what} to {host!r}:{port}")
            raise ConnectionRefusedError(f"network guard: {what} to {host!r} is not allowed")


@pytest.fixture
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    guard = NetworkGuard()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = asyncio.BaseEventLoop.create_connection

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard.check("connect", address[0], address[1])
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard.check("connect_ex", address[0], address[1])
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name != "localhost":
            try:
                ipaddress.ip_address(name.split("%")[0])
            except ValueError:
                guard.violations.append(f"DNS look-up of {name!r}")
                raise socket.gaierror(
                    socket.EAI_NONAME, "network guard: DNS is not allowed"
                ) from None
        return real_getaddrinfo(host, port, *args, **kwargs)

    async def create_connection(
        self: Any, factory: Any, host: Any = None, port: Any = None, **kw: Any
    ) -> Any:
        if host is not None and host != "localhost":
            guard.check("create_connection", host, port)
        return await real_create_connection(self, factory, host, port, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", create_connection)
    yield guard
    assert guard.violations == [], "a test tried to reach the network"


@pytest.fixture
async def server(network_guard: NetworkGuard) -> AsyncIterator[str]:
    """A tiny HTTP server on 127.0.0.1."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello, world", headers={"X-Test": "yes"})

    async def echo(request: web.Request) -> web.Response:
        body = await request.text()
        return web.json_response(
            {
                "method": request.method,
                "body": body,
                "type": request.headers.get("Content-Type"),
                "auth": request.headers.get("Authorization"),
            }
        )

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"x" * 65536)
        return response

    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b"y" * 2_000_000)

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/stream", stream)
    app.router.add_get("/declared", declared)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def context(hosts: tuple[str, ...] = ("127.0.0.1",), **kw: Any) -> ToolContext:
    kw.setdefault("allow", frozenset({"net.http"}))
    return ToolContext(Permissions(http_allow_hosts=hosts, **kw))


async def fetch(args: dict[str, Any], ctx: ToolContext) -> Any:
    return await ToolRegistry(builtin_tools()).invoke("http_fetch", args, ctx)


def test_the_guard_blocks_outside_connections(network_guard: NetworkGuard) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="network guard"):
        sock.connect(("10.255.255.1", 80))
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 80)
    assert len(network_guard.violations) == 2
    network_guard.violations.clear()


async def test_fetch_from_an_allowed_local_server(server: str) -> None:
    result = await fetch({"url": f"{server}/hello"}, context(http_allow_private=True))
    assert result["status"] == 200
    assert result["body"] == "hello, world"
    assert result["headers"]["x-test"] == "yes"
    assert result["url"] == f"{server}/hello"


async def test_post_with_a_json_body(server: str) -> None:
    args = {"url": f"{server}/echo", "method": "POST", "body": {"a": 1}}
    result = await fetch(args, context(http_allow_private=True))
    assert result["status"] == 200
    assert (
        result["body"]
        == '{"method": "POST", "body": "{\\"a\\": 1}", "type": "application/json", "auth": null}'
    )


async def test_same_host_redirect_is_followed(server: str) -> None:
    result = await fetch({"url": f"{server}/redirect?to=/hello"}, context(http_allow_private=True))
    assert (result["status"], result["body"]) == (200, "hello, world")
    assert result["url"] == f"{server}/hello"


async def test_redirect_to_cloud_metadata_is_refused(
    server: str, network_guard: NetworkGuard
) -> None:
    target = "http://169.254.169.254/latest/meta-data/"
    ctx = context(("127.0.0.1", "169.254.169.254"), http_allow_private=True)
    with pytest.raises(
        ToolError,
        match=re.escape("refused to connect: 169.254.169.254 is a cloud metadata address"),
    ):
        await fetch({"url": f"{server}/redirect?to={target}"}, ctx)
    assert all(_loopback(host) for _, host, _ in network_guard.attempts)


async def test_redirect_to_a_host_not_allowlisted_is_refused(server: str) -> None:
    with pytest.raises(
        ToolError,
        match=re.escape(
            "host 'evil.example.com' is not in the allowed hosts; "
            "run with --http-host evil.example.com"
        ),
    ):
        await fetch(
            {"url": f"{server}/redirect?to=http://evil.example.com/x"},
            context(http_allow_private=True),
        )


async def test_redirect_to_another_scheme_is_refused(server: str) -> None:
    with pytest.raises(ToolError, match="only http and https URLs are allowed, not 'file'"):
        await fetch(
            {"url": f"{server}/redirect?to=file:///etc/passwd"}, context(http_allow_private=True)
        )


async def test_redirect_loops_are_bounded(server: str) -> None:
    with pytest.raises(ToolError, match="too many redirects"):
        await fetch({"url": f"{server}/loop"}, context(http_allow_private=True))


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/stream", "larger than the limit of 100000 bytes"),
        ("/declared", "is 2000000 bytes, over the limit of 100000"),
    ],
)
async def test_oversized_responses_are_cut(server: str, path: str, fragment: str) -> None:
    ctx = context(http_allow_private=True, max_response_bytes=100_000)
    with pytest.raises(ToolError, match=fragment):
        await fetch({"url": server + path}, ctx)


async def test_a_closed_port_is_a_clear_error(network_guard: NetworkGuard) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(ToolError, match=f"request to 'http://127.0.0.1:{port}/' failed"):
            await fetch({"url": f"http://127.0.0.1:{port}/"}, context(http_allow_private=True))


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://127.0.0.1:8080/admin", "127.0.0.1 is a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://169.254.1.1/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://10.0.0.1/", "a private address"),
        ("http://172.16.0.1/", "a private address"),
        ("http://192.168.1.1/", "a private address"),
        ("http://100.64.0.1/", "a private address"),
        ("http://[fd00::1]/", "a private address"),
        ("http://0.0.0.0/", "an unspecified address"),
        ("http://[::]/", "an unspecified address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://255.255.255.255/", "a reserved or broadcast address"),
        ("http://[::ffff:127.0.0.1]/", "a loopback address (as ::ffff:7f00:1)"),
        ("http://[::ffff:169.254.169.254]/", "a cloud metadata address"),
        ("http://[::ffff:10.0.0.1]/", "a private address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "a cloud metadata address"),
        ("http://[2002:7f00:1::]/", "a loopback address"),
        ("http://2130706433/", "non-standard notation"),
        ("http://0x7f000001/", "non-standard notation"),
        ("http://0x7f.0.0.1/", "non-standard notation"),
        ("http://017700000001/", "non-standard notation"),
        ("http://127.1/", "non-standard notation"),
        ("http://0/", "non-standard notation"),
        ("http://exa%6dple.com/", "not a valid host name"),
    ],
)
async def test_private_and_odd_addresses_are_refused_before_connecting(
    network_guard: NetworkGuard, url: str, fragment: str
) -> None:
    with pytest.raises(ToolError, match="refused") as info:
        await fetch({"url": url}, context(("*",)))
    assert fragment in str(info.value)
    assert network_guard.attempts == []


async def test_localhost_is_refused_before_connecting(network_guard: NetworkGuard) -> None:
    with pytest.raises(
        ToolError,
        match=r"'localhost' resolves to .*, a loopback address; run with --http-allow-private",
    ):
        await fetch({"url": "http://localhost:9/"}, context(("localhost",)))
    assert network_guard.attempts == []


async def test_metadata_is_refused_even_when_private_addresses_are_allowed(
    network_guard: NetworkGuard,
) -> None:
    with pytest.raises(ToolError, match=r"a cloud metadata address$"):
        await fetch({"url": "http://169.254.169.254/"}, context(("*",), http_allow_private=True))
    assert network_guard.attempts == []


async def test_a_name_resolving_to_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, network_guard: NetworkGuard
) -> None:
    looked_up = []

    async def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["93.184.216.34", "10.1.2.3"] if host == "internal.example" else []

    monkeypatch.setattr(_netguard, "resolve_host", resolve)
    with pytest.raises(
        ToolError, match=re.escape("'internal.example' resolves to 10.1.2.3, a private address")
    ):
        await fetch({"url": "https://internal.example/"}, context(("*.example",)))
    assert looked_up == ["internal.example"]
    assert network_guard.attempts == []


async def test_the_checked_address_is_the_one_connected_to(
    server: str, monkeypatch: pytest.MonkeyPatch, network_guard: NetworkGuard
) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "service.test" else []

    monkeypatch.setattr(_netguard, "resolve_host", resolve)
    url = server.replace("127.0.0.1", "service.test") + "/hello"
    result = await fetch({"url": url}, context(("service.test",), http_allow_private=True))
    assert result["body"] == "hello, world"
    assert {host for _, host, _ in network_guard.attempts} == {"127.0.0.1"}


@pytest.mark.parametrize(
    ("url", "hosts", "fragment"),
    [
        ("ftp://example.com/", ("*",), "only http and https URLs are allowed, not 'ftp'"),
        ("file:///etc/passwd", ("*",), "only http and https URLs are allowed, not 'file'"),
        ("http://example.com/", (), "no hosts are allowed; run with --http-host example.com"),
        ("http://example.org/", ("example.com",), "host 'example.org' is not in the allowed hosts"),
        (
            "http://example.com/",
            ("*.example.com",),
            "host 'example.com' is not in the allowed hosts",
        ),
        ("http://user:pw@example.com/", ("*",), "credentials"),
        ("http://[::1/", ("*",), "invalid URL"),
    ],
)
async def test_urls_are_checked_before_anything_else(
    network_guard: NetworkGuard, url: str, hosts: tuple[str, ...], fragment: str
) -> None:
    with pytest.raises(ToolError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        await fetch({"url": url}, context(hosts))
    assert network_guard.attempts == []


async def test_http_needs_its_permission(network_guard: NetworkGuard) -> None:
    with pytest.raises(
        ToolError, match=re.escape("permission 'net.http' not granted; run with --allow net.http")
    ):
        await fetch({"url": "http://example.com/"}, context(("*",), allow=frozenset()))


def test_host_patterns() -> None:
    allowed = ("api.example.com", "*.svc.test", "10.0.0.1", "[::1]")
    assert _netguard.host_allowed("api.example.com", allowed)
    assert _netguard.host_allowed("a.b.svc.test", allowed)
    assert not _netguard.host_allowed("svc.test", allowed)
    assert not _netguard.host_allowed("evilsvc.test", allowed)
    assert not _netguard.host_allowed("api.example.com.evil.net", allowed)
    assert _netguard.host_allowed("10.0.0.1", allowed)
    assert _netguard.host_allowed("::1", allowed)
    assert _netguard.host_allowed("anything", ("*",))


async def test_a_name_that_does_not_resolve_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, network_guard: NetworkGuard
) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(_netguard, "resolve_host", resolve)
    with pytest.raises(ToolError, match=re.escape("cannot resolve 'nowhere.test'")):
        await fetch({"url": "http://nowhere.test/"}, context(("nowhere.test",)))
    assert network_guard.attempts == []
