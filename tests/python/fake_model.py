"""A scripted model endpoint on loopback that the real agent CLIs talk to instead of a
hosted model, so that their MCP wiring can be tested without an API key.

It speaks the three wire formats the CLIs use, streaming and not:
- Anthropic Messages (`POST /v1/messages`, Claude Code),
- OpenAI Responses (`POST /v1/responses`, Codex),
- OpenAI Chat Completions (`POST /v1/chat/completions`, OpenCode's openai-compatible provider).

The script is the same for every format. A request whose tool list holds ralph's
`read_file` (under whatever name the CLI gives it) belongs to the conversation under test:
with k tool results in it so far, the model asks for `read_file` of `files[k]`, and once
every file was read it answers with plain text. Before asking for file k > 0 it calls
`between(k)`, which the test uses to kill the server in the middle of the run. Every
other request (titles, summaries, quota checks) gets a short plain answer.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

FINAL_TEXT = "FAKE-MODEL-FINISHED"
READ_FILE = re.compile(r"(^|[_.\-/])read_file$")


@dataclass
class Turn:
    """One request of the conversation under test, as the model saw it."""

    api: str
    tool_names: list[str]
    tool_results: list[str]


@dataclass
class FakeModel:
    """The scripted model; `start()` serves it on an ephemeral loopback port."""

    files: list[str]
    between: Callable[[int], None] = lambda k: None
    turns: list[Turn] = field(default_factory=list)
    side_requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _done_between: set = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                if path.endswith("/models"):
                    body = {"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "test"}]}
                    return self._json(200, body)
                self._json(404, {"error": {"message": f"no {path} here"}})

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n)
                path = self.path.split("?")[0]
                try:
                    req = json.loads(raw or b"{}")
                except ValueError as e:
                    return self._json(400, {"error": {"message": str(e)}})
                try:
                    if path.endswith("/messages/count_tokens"):
                        return self._json(200, {"input_tokens": 10})
                    if path.endswith("/messages"):
                        return model._anthropic(self, req)
                    if path.endswith("/responses"):
                        return model._responses(self, req)
                    if path.endswith("/chat/completions"):
                        return model._chat(self, req)
                except Exception as e:  # noqa: BLE001 - reported to the test
                    model.errors.append(f"{path}: {e!r}")
                    raise
                self._json(404, {"error": {"message": f"no {path} here"}})

            def _json(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def sse(self, events: list[tuple[str | None, dict | str]]):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                for name, data in events:
                    chunk = ""
                    if name:
                        chunk += f"event: {name}\n"
                    chunk += f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
                    self.wfile.write(chunk.encode())
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- the script -------------------------------------------------------------

    def _decide(self, api: str, tool_names: list[str], results: list[str]) -> tuple[str, str] | None:
        """Returns (tool name, path) to call next, or None for the final answer."""
        read = [n for n in tool_names if READ_FILE.search(n) and "ralph" in n]
        if not read:
            return None
        with self._lock:
            self.turns.append(Turn(api, list(tool_names), list(results)))
        k = len(results)
        if k >= len(self.files):
            return None
        if k > 0:
            with self._lock:
                first = k not in self._done_between
                self._done_between.add(k)
            if first:
                self.between(k)
        return read[0], self.files[k]

    def in_conversation(self, tool_names: list[str]) -> bool:
        return any(READ_FILE.search(n) and "ralph" in n for n in tool_names)

    # ---- Anthropic Messages -----------------------------------------------------

    def _anthropic(self, h, req: dict):
        tools = [t.get("name", "") for t in req.get("tools") or []]
        results = []
        for m in req.get("messages") or []:
            if isinstance(m.get("content"), list):
                for block in m["content"]:
                    if block.get("type") == "tool_result":
                        results.append(_text_of(block.get("content")))
        if not self.in_conversation(tools):
            self.side_requests.append("anthropic")
        step = self._decide("anthropic", tools, results) if self.in_conversation(tools) else None
        if step:
            name, path = step
            block = {"type": "tool_use", "id": f"toolu_{len(results)}", "name": name, "input": {}}
            args = json.dumps({"path": path})
            stop = "tool_use"
        else:
            block = {"type": "text", "text": ""}
            args = FINAL_TEXT if self.in_conversation(tools) else "ok"
            stop = "end_turn"
        msg = {
            "id": f"msg_{len(self.turns)}",
            "type": "message",
            "role": "assistant",
            "model": req.get("model", "fake-model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        }
        if not req.get("stream"):
            full = dict(block)
            if full["type"] == "tool_use":
                full["input"] = json.loads(args)
            else:
                full["text"] = args
            return h._json(200, {**msg, "content": [full], "stop_reason": stop})
        delta = {"type": "input_json_delta", "partial_json": args} if block["type"] == "tool_use" else {"type": "text_delta", "text": args}
        h.sse(
            [
                ("message_start", {"type": "message_start", "message": msg}),
                ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
                ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}}),
                ("message_stop", {"type": "message_stop"}),
            ]
        )

    # ---- OpenAI Responses -------------------------------------------------------

    def _responses(self, h, req: dict):
        tools = []
        namespaced = {}
        for t in req.get("tools") or []:
            if t.get("type") == "namespace":
                # Codex groups an MCP server's tools: namespace `mcp__ralph`, tool `read_file`.
                for x in t.get("tools") or []:
                    full = f"{t.get('name', '')}__{x.get('name', '')}"
                    namespaced[full] = (t.get("name", ""), x.get("name", ""))
                    tools.append(full)
            else:
                tools.append(t.get("name") or (t.get("function") or {}).get("name", ""))
        items = req.get("input") if isinstance(req.get("input"), list) else []
        results = [_text_of(i.get("output")) for i in items if i.get("type") in ("function_call_output", "custom_tool_call_output", "mcp_tool_call_output")]
        if not self.in_conversation(tools):
            self.side_requests.append("responses")
        step = self._decide("responses", tools, results) if self.in_conversation(tools) else None
        n = len(results)
        if step:
            name, path = step
            item = {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": name, "arguments": json.dumps({"path": path}), "status": "completed"}
            if name in namespaced:
                item["namespace"], item["name"] = namespaced[name]
        else:
            text = FINAL_TEXT if self.in_conversation(tools) else "ok"
            item = {"type": "message", "id": f"msg_{n}", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": text, "annotations": []}]}
        usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
        resp = {"id": f"resp_{n}", "object": "response", "created_at": 0, "status": "completed", "model": req.get("model", "fake-model"), "output": [item], "usage": usage}
        if not req.get("stream"):
            return h._json(200, resp)
        events: list[tuple[str | None, dict | str]] = [
            ("response.created", {"type": "response.created", "response": {**resp, "status": "in_progress", "output": []}}),
            ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": item}),
        ]
        if item["type"] == "message":
            events.append(("response.output_text.delta", {"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0, "content_index": 0, "delta": item["content"][0]["text"]}))
        events += [
            ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
            ("response.completed", {"type": "response.completed", "response": resp}),
        ]
        h.sse(events)

    # ---- OpenAI Chat Completions ------------------------------------------------

    def _chat(self, h, req: dict):
        tools = [(t.get("function") or {}).get("name", "") for t in req.get("tools") or []]
        results = [_text_of(m.get("content")) for m in req.get("messages") or [] if m.get("role") == "tool"]
        if not self.in_conversation(tools):
            self.side_requests.append("chat")
        step = self._decide("chat", tools, results) if self.in_conversation(tools) else None
        n = len(results)
        base = {"id": f"chatcmpl_{n}", "object": "chat.completion.chunk", "created": 0, "model": req.get("model", "fake-model")}
        if step:
            name, path = step
            call = {"index": 0, "id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": json.dumps({"path": path})}}
            delta, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        else:
            delta, finish = {"role": "assistant", "content": FINAL_TEXT if self.in_conversation(tools) else "ok"}, "stop"
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if not req.get("stream"):
            message = {k: v for k, v in delta.items() if k != "tool_calls" or v}
            if "tool_calls" in message:
                message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in message["tool_calls"]]
            body = {**base, "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}
            return h._json(200, body)
        h.sse(
            [
                (None, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}),
                (None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
                (None, {**base, "choices": [], "usage": usage}),
                (None, "[DONE]"),
            ]
        )


def _text_of(content) -> str:
    """The text of a tool result in any of the three formats."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(c.get("text") if isinstance(c, dict) and "text" in c else c) if not isinstance(c, str) else c for c in content)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or json.dumps(content))
    return str(content)
