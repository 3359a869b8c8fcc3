"""read_media / read_image and media resources, per provider row, with the official Python SDK.

The media files are real: a PNG written with zlib, a minimal PDF, a WAV from the
`wave` module and a baseline JPEG header, all generated here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import wave
import zlib
from pathlib import Path

import anyio
import pytest

from conftest import ALL_CAPS, BINARY, READ_ONLY_CAPS, start_server
from mcp_client import mcp_session


def png_bytes(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes([200, 10, 10] * width) for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def pdf_bytes() -> bytes:
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 100 100]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )
    return body


def jpeg_bytes(width: int = 640, height: int = 480) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def write_media(ws: Path) -> dict[str, bytes]:
    files = {"shot.png": png_bytes(), "doc.pdf": pdf_bytes(), "photo.jpg": jpeg_bytes()}
    for name, data in files.items():
        (ws / name).write_bytes(data)
    with wave.open(str(ws / "beep.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 800)
    files["beep.wav"] = (ws / "beep.wav").read_bytes()
    return files


def serve_as(ws: Path, identity: dict | None, **kw):
    extra = {"model_identity": identity} if identity else {}
    extra.update(kw.pop("extra_session", {}))
    return start_server(ws, capabilities=kw.pop("capabilities", ALL_CAPS), extra_session=extra, **kw)


def session_calls(srv, fn):
    async def body():
        async with mcp_session(srv.url, srv.headers()) as s:
            return await fn(s)

    return anyio.run(body)


def read(srv, path, tool="read_media", fmt="inline"):
    return session_calls(srv, lambda s: s.call_tool(tool, {"path": path, "format": fmt}))


def meta(res) -> dict:
    return json.loads(res.content[0].text)


def kinds(res) -> list[str]:
    return [b.type for b in res.content]


@pytest.fixture
def media_ws(workspace):
    return workspace, write_media(workspace)


def test_claude_gets_inline_png_and_pdf_typed_block(media_ws):
    ws, files = media_ws
    srv = serve_as(ws, {"provider": "claude", "model_id": "claude-opus", "transport": "claude"})
    try:
        png = read(srv, "shot.png")
        assert not png.is_error
        assert kinds(png) == ["text", "image"]
        assert png.content[1].mime_type == "image/png"
        assert base64.b64decode(png.content[1].data) == files["shot.png"]
        assert meta(png)["delivery"] == "inline_image"
        pdf = read(srv, "doc.pdf")
        assert not pdf.is_error
        assert kinds(pdf) == ["text", "resource"]
        res = pdf.content[1].resource
        assert res.mime_type == "application/pdf"
        assert base64.b64decode(res.blob) == files["doc.pdf"]
        assert str(res.uri).startswith("ralph://media/")
        assert meta(pdf)["delivery"] == "typed_block"
        wav = read(srv, "beep.wav")
        assert wav.is_error
        assert "audio" in wav.content[0].text and "Claude" in wav.content[0].text
    finally:
        srv.stop()


def test_codex_gets_a_replay_reference_with_exact_bytes(media_ws):
    ws, files = media_ws
    srv = serve_as(ws, {"provider": "openai", "model_id": "gpt-5", "transport": "codex"})
    try:

        async def flow(s):
            res = await s.call_tool("read_media", {"path": "shot.png"})
            assert not res.is_error
            assert "image" not in kinds(res)
            link = res.content[1]
            assert link.type == "resource_link"
            uri = str(link.uri)
            assert uri.startswith("ralph://media/") and meta(res)["uri"] == uri
            assert meta(res)["delivery"] == "resource_reference_replay"
            read_back = await s.read_resource(uri)
            listed = await s.list_resources()
            templates = await s.list_resource_templates()
            replay = await s.call_tool("read_image", {"path": uri})
            return uri, read_back, listed, templates, replay

        uri, read_back, listed, templates, replay = session_calls(srv, flow)
        blob = read_back.contents[0]
        assert base64.b64decode(blob.blob) == files["shot.png"]
        assert blob.mime_type == "image/png"
        assert uri in [str(r.uri) for r in listed.resources]
        assert templates.resource_templates[0].uri_template == "ralph://media/{id}"
        # Replaying the handle still honours the profile: a reference again, same hash.
        assert meta(replay)["sha256"] == hashlib.sha256(files["shot.png"]).hexdigest()
        assert "image" not in kinds(replay)
        pdf = read(srv, "doc.pdf")
        assert pdf.is_error and "pdf" in pdf.content[0].text
    finally:
        srv.stop()


def test_replay_handles_survive_a_server_restart(media_ws):
    ws, files = media_ws
    ident = {"provider": "mystery-ai", "transport": "generic"}
    srv = serve_as(ws, ident)
    try:
        uri = meta(read(srv, "shot.png"))["uri"]
    finally:
        srv.stop()
    srv = serve_as(ws, ident)
    try:
        got = session_calls(srv, lambda s: s.read_resource(uri))
        assert base64.b64decode(got.contents[0].blob) == files["shot.png"]
    finally:
        srv.stop()


def test_gemini_gets_audio_and_pdf_as_typed_blocks(media_ws):
    ws, files = media_ws
    srv = serve_as(ws, {"provider": "gemini", "model_id": "gemini-2.5-pro", "transport": "opencode"})
    try:
        wav = read(srv, "beep.wav")
        assert not wav.is_error
        assert kinds(wav) == ["text", "audio"]
        assert base64.b64decode(wav.content[1].data) == files["beep.wav"]
        assert wav.content[1].mime_type.startswith("audio/")
        assert kinds(read(srv, "doc.pdf")) == ["text", "resource"]
        assert kinds(read(srv, "shot.png")) == ["text", "image"]
    finally:
        srv.stop()


def test_openai_takes_images_only(media_ws):
    ws, _ = media_ws
    srv = serve_as(ws, {"provider": "openai", "model_id": "gpt-5", "transport": "opencode"})
    try:
        assert kinds(read(srv, "shot.png")) == ["text", "image"]
        pdf = read(srv, "doc.pdf")
        assert pdf.is_error and "metadata" in pdf.content[0].text
    finally:
        srv.stop()


@pytest.mark.parametrize("identity", [{"provider": "mystery-ai"}, None])
def test_unknown_providers_get_references(media_ws, identity):
    ws, _ = media_ws
    srv = serve_as(ws, identity)
    try:
        for name in ("shot.png", "doc.pdf", "beep.wav"):
            res = read(srv, name)
            assert not res.is_error, res.content[0].text
            assert kinds(res) == ["text", "resource_link"], name
    finally:
        srv.stop()


def test_stored_profile_may_restrict_but_not_widen(media_ws):
    ws, _ = media_ws
    stored = {"provider": "claude", "verdicts": {
        "image": {"delivery": "resource_reference_replay", "reason": "operator keeps images out of context"},
        "audio": {"delivery": "typed_block", "reason": "stale"},
    }}
    srv = serve_as(ws, {"provider": "claude", "transport": "claude"}, extra_session={"capability_profile": stored})
    try:
        png = read(srv, "shot.png")
        assert kinds(png) == ["text", "resource_link"]
        assert meta(png)["reason"] == "operator keeps images out of context"
        assert read(srv, "beep.wav").is_error
    finally:
        srv.stop()


def test_a_50_mb_image_is_never_inlined(workspace):
    big = workspace / "huge.png"
    with open(big, "wb") as f:
        f.write(png_bytes())
        f.truncate(50 * 1024 * 1024)
    srv = serve_as(workspace, {"provider": "claude", "transport": "claude"})
    try:
        res = read(srv, "huge.png")
        assert not res.is_error
        assert "image" not in kinds(res)
        m = meta(res)
        assert m["delivery"] == "resource_reference_replay"
        assert "max_inline_bytes" in m["reason"]
        assert m["size_bytes"] == 50 * 1024 * 1024
    finally:
        srv.stop()


def test_max_inline_bytes_comes_from_mcp_toml(media_ws):
    ws, _ = media_ws
    (ws / ".agent").mkdir(exist_ok=True)
    (ws / ".agent" / "mcp.toml").write_text("[media]\nmax_inline_bytes = 16\n")
    srv = serve_as(ws, {"provider": "claude", "transport": "claude"})
    try:
        res = read(srv, "shot.png")
        assert kinds(res) == ["text", "resource_link"]
        assert "max_inline_bytes (16)" in meta(res)["reason"]
    finally:
        srv.stop()


def test_bad_mcp_toml_stops_serve_naming_file_and_key(workspace):
    (workspace / ".agent").mkdir()
    (workspace / ".agent" / "mcp.toml").write_text("[media]\nmax_inline = 3\n")
    proc = subprocess.run(
        [str(BINARY), "serve", "--port", "0", "--workspace", str(workspace)],
        capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0
    assert "mcp.toml" in proc.stderr and "max_inline" in proc.stderr


def test_metadata_reports_size_hash_type_and_dimensions(media_ws):
    ws, files = media_ws
    srv = serve_as(ws, {"provider": "claude", "transport": "claude"})
    try:
        png = meta(read(srv, "shot.png", fmt="metadata"))
        assert png == {**png, "mime_type": "image/png", "width": 3, "height": 2,
                       "size_bytes": len(files["shot.png"]),
                       "sha256": hashlib.sha256(files["shot.png"]).hexdigest()}
        jpg = meta(read(srv, "photo.jpg", tool="read_image", fmt="metadata"))
        assert (jpg["mime_type"], jpg["width"], jpg["height"]) == ("image/jpeg", 640, 480)
        assert meta(read(srv, "beep.wav", fmt="metadata"))["modality"] == "audio"
    finally:
        srv.stop()


def test_type_comes_from_content_and_read_image_takes_images_only(media_ws):
    ws, files = media_ws
    (ws / "fake.png").write_text("not really a png\n")
    (ws / "disguised.txt").write_bytes(files["shot.png"])
    srv = serve_as(ws, {"provider": "claude", "transport": "claude"})
    try:
        fake = read(srv, "fake.png")
        assert fake.is_error and "not a recognised media file" in fake.content[0].text
        disguised = read(srv, "disguised.txt", tool="read_image")
        assert kinds(disguised) == ["text", "image"]
        pdf = read(srv, "doc.pdf", tool="read_image")
        assert pdf.is_error and "application/pdf" in pdf.content[0].text
        bad = read(srv, "shot.png", fmt="thumbnail")
        assert bad.is_error and "format" in bad.content[0].text
    finally:
        srv.stop()


def test_media_paths_are_confined(media_ws, tmp_path):
    ws, files = media_ws
    (tmp_path / "outside" / "secret.png").write_bytes(files["shot.png"])
    (ws / "escape.png").symlink_to(tmp_path / "outside" / "secret.png")
    srv = serve_as(ws, {"provider": "claude", "transport": "claude"})
    try:
        for path in ("../outside/secret.png", str(tmp_path / "outside" / "secret.png"), "escape.png"):
            res = read(srv, path)
            assert res.is_error, path
            assert "image" not in kinds(res)
        bogus = session_calls(srv, lambda s: s.call_tool("read_media", {"path": "ralph://media/../../etc/passwd"}))
        assert bogus.is_error
    finally:
        srv.stop()


def test_unknown_resources_are_a_clear_error(media_ws):
    ws, _ = media_ws
    srv = serve_as(ws, {"provider": "claude"})
    try:
        async def flow(s):
            try:
                await s.read_resource("ralph://media/6b0c1b8e-3f7e-4c55-9d0e-000000000000")
            except Exception as e:  # noqa: BLE001 - the SDK raises McpError
                return str(e)
            return "no error"

        msg = session_calls(srv, flow)
        assert "not available" in msg or "not found" in msg.lower()
    finally:
        srv.stop()


def test_sessions_without_media_read_do_not_see_media_tools(workspace):
    srv = start_server(workspace, capabilities=READ_ONLY_CAPS, drain="review")
    try:
        names = {t.name for t in session_calls(srv, lambda s: s.list_tools()).tools}
        assert "read_file" in names and "read_media" not in names and "read_image" not in names
    finally:
        srv.stop()
