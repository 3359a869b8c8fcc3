"""A thin helper around the official Python MCP SDK client."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


@asynccontextmanager
async def mcp_session(url: str, headers: dict[str, str] | None = None):
    """An initialized ClientSession over Streamable HTTP."""
    async with httpx2.AsyncClient(headers=headers or {}, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def text_of(result) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def calls(srv, *pairs):
    """Calls each (tool, args) in order over one session of `srv`; returns the results."""
    import anyio

    async def body():
        out = []
        async with mcp_session(srv.url, srv.headers()) as s:
            for tool, args in pairs:
                out.append(await s.call_tool(tool, args))
        return out

    return anyio.run(body)


def call(srv, tool, args=None):
    """One tool call over a fresh session."""
    return calls(srv, (tool, args or {}))[0]


def live_pids(pattern: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line contains `pattern`."""
    from pathlib import Path

    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if pattern in cmd and state != "Z":
                out.append(int(d.name))
    return out


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, limit: float = 20.0) -> None:
    """Waits until something accepts connections on 127.0.0.1:`port`."""
    import socket
    import time

    deadline = time.monotonic() + limit
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on port {port} after {limit} s") from None
            time.sleep(0.05)

