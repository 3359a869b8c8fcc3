"""The official Python MCP SDK against the real binary."""

from __future__ import annotations

import json

import anyio
import pytest

from conftest import start_server
from mcp_client import mcp_session, text_of


def run(coro_fn, *args):
    return anyio.run(coro_fn, *args)


def test_initialize_list_and_call_work(server, workspace):
    async def body():
        async with mcp_session(server.url, server.headers()) as s:
            tools = await s.list_tools()
            names = {t.name for t in tools.tools}
            assert {"read_file", "grep_files", "mcp__ralph__read_file"} <= names
            res = await s.call_tool("read_file", {"path": "README.md"})
            assert not res.is_error
            assert text_of(res) == "# Demo\n\nline two\nline three\n"
            res = await s.call_tool("mcp__ralph__read_file", {"path": "README.md", "line_start": 3, "line_end": 4})
            payload = json.loads(text_of(res))
            assert payload["content"] == "line two\nline three\n"
            assert payload["total_lines"] == 4
            await s.send_ping()

    run(body)


def test_read_only_session_does_not_see_write_tools(readonly_server):
    async def body():
        async with mcp_session(readonly_server.url) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert "read_file" in names
            for hidden in ("write_file", "edit_file", "delete_path", "exec"):
                assert hidden not in names

    run(body)


@pytest.mark.parametrize(
    "path",
    ["../outside/secret.txt", "link-to-secret", "link-to-outside/secret.txt", "src/../../outside/secret.txt"],
)
def test_escapes_are_refused_and_nothing_leaks(server, workspace, path):
    async def body():
        async with mcp_session(server.url, server.headers()) as s:
            res = await s.call_tool("read_file", {"path": path})
            assert res.is_error
            assert "TOP-SECRET-VALUE" not in text_of(res)
            assert "outside the allowed roots" in text_of(res)

    run(body)


def test_absolute_path_outside_is_refused(server, workspace):
    secret = workspace.parent / "outside" / "secret.txt"

    async def body():
        async with mcp_session(server.url, server.headers()) as s:
            for tool, args in [
                ("read_file", {"path": str(secret)}),
                ("list_directory", {"path": str(secret.parent)}),
                ("grep_files", {"pattern": "TOP", "path": str(secret.parent)}),
                ("stat_path", {"path": str(secret)}),
            ]:
                res = await s.call_tool(tool, args)
                assert res.is_error, tool
                assert "TOP-SECRET-VALUE" not in text_of(res)

    run(body)


def test_grep_through_symlinked_dir_does_not_leak(server):
    async def body():
        async with mcp_session(server.url, server.headers()) as s:
            res = await s.call_tool("grep_files", {"pattern": "TOP-SECRET", "path": "."})
            assert not res.is_error
            assert json.loads(text_of(res))["matches"] == []

    run(body)


def test_bad_argument_names_the_field(server):
    async def body():
        async with mcp_session(server.url, server.headers()) as s:
            res = await s.call_tool("read_file", {"path": "README.md", "max_bytes": "lots"})
            assert res.is_error
            assert "max_bytes" in text_of(res)
            res = await s.call_tool("read_file", {})
            assert res.is_error
            assert "path" in text_of(res)

    run(body)


def test_unknown_tool_is_a_protocol_error(server):
    async def body():
        async with mcp_session(server.url, server.headers()) as s:
            with pytest.raises(Exception) as info:
                res = await s.call_tool("no_such_tool", {})
                # Some SDK versions surface the error as an isError result instead.
                assert res.is_error
                raise RuntimeError(text_of(res))
            assert "no_such_tool" in str(info.value) or "Unknown tool" in str(info.value)

    run(body)


def test_refusal_names_the_missing_capability(workspace):
    srv = start_server(workspace, capabilities=["workspace.read"], drain="review")
    try:

        async def body():
            async with mcp_session(srv.url) as s:
                res = await s.call_tool("stat_path", {"path": "README.md"})
                assert res.is_error
                assert "workspace.metadata_read" in text_of(res)

        run(body)
    finally:
        srv.stop()


def test_session_id_is_stable_across_restarts(workspace):
    ids = []
    for _ in range(2):
        srv = start_server(workspace, capabilities=["workspace.read"], session_id="stable-session")
        try:

            import httpx2

            r = httpx2.post(
                srv.url,
                json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
                headers={"Accept": "application/json, text/event-stream"},
            )
            ids.append(r.headers["mcp-session-id"])
        finally:
            srv.stop()
    assert ids[0] == ids[1]
