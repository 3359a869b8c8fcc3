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

