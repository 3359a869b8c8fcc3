"""visit_url, download_url and web_search against local servers standing in for
the web and for each search backend's API; SSRF attempts refused."""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import ALL_CAPS, start_server
from fixtures.web_standin import StandIn
from mcp_client import call, text_of

WEB_CAPS = [*ALL_CAPS, "web.search", "web.visit", "web.download"]


def configure(ws, body: str):
    (ws / ".agent").mkdir(exist_ok=True)
    (ws / ".agent" / "mcp.toml").write_text(body)


@pytest.fixture
def web():
    s = StandIn()
    yield s
    s.close()


@pytest.fixture
def open_srv(workspace, web):
    configure(workspace, "[web_visit]\nallow_private_networks = true\nmax_bytes = 1048576\ntimeout_ms = 2000\n")
    srv = start_server(workspace, capabilities=WEB_CAPS)
    yield srv
    srv.stop()


def payload(res) -> dict:
    return json.loads(text_of(res))


def test_visit_url_returns_the_readable_main_content(open_srv, web):
    res = call(open_srv, "visit_url", {"url": web.url("/moved"), "with_links": True})
    body = payload(res)
    assert not res.is_error, body
    assert body["status"] == "ok" and body["title"] == "Widget docs"
    assert body["effective_url"] == web.url("/page.html")
    assert "`widget install --fast`" in body["text"]
    assert "steal()" not in body["text"] and "Login" not in body["text"]
    assert body["links"] == [web.url("/guide.html"), "https://example.org/faq"]
    meta = payload(call(open_srv, "visit_url", {"url": web.url("/page.html"), "format": "metadata"}))
    assert meta["format"] == "metadata" and "text" not in meta and "Installing widgets" in meta["head_preview"]
    assert meta["bytes_out"] == len(text_of(call(open_srv, "visit_url", {"url": web.url("/page.html"), "format": "metadata"})).encode())
    plain = payload(call(open_srv, "visit_url", {"url": web.url("/plain.txt")}))
    assert plain["text"] == "just text\n\nmore text"


@pytest.mark.parametrize("path,status,http", [
    ("/data.json", "unsupported_content", 200),
    ("/nowhere", "http_error", 404),
    ("/big", "too_large", 200),
    ("/slow", "timeout", None),
])
def test_visit_url_failures_carry_ralphs_status_words(open_srv, web, path, status, http):
    res = call(open_srv, "visit_url", {"url": web.url(path)})
    body = payload(res)
    assert res.is_error and body["status"] == status and body["http_status"] == http, body


def test_download_url_saves_exact_bytes_through_the_confinement(open_srv, web):
    res = call(open_srv, "download_url", {"url": web.url("/data.bin"), "output_path": "vendor/data.bin", "format": "summary"})
    body = json.loads(text_of(res))
    assert not res.is_error, body
    want = bytes(range(256)) * 64
    assert (open_srv.workspace / "vendor" / "data.bin").read_bytes() == want
    assert body["bytes_written"] == len(want) and body["sha256"] == hashlib.sha256(want).hexdigest()[:16]
    # Outside the workspace: refused, nothing written.
    res = call(open_srv, "download_url", {"url": web.url("/data.bin"), "output_path": "../escaped.bin"})
    assert res.is_error and not (open_srv.workspace.parent / "escaped.bin").exists()
    # Over the cap: refused before anything is written.
    res = call(open_srv, "download_url", {"url": web.url("/big"), "output_path": "big.txt"})
    assert res.is_error and payload(res)["status"] == "too_large"
    assert not (open_srv.workspace / "big.txt").exists()


def test_capabilities_follow_ralphs_drains(workspace):
    srv = start_server(workspace, capabilities=["workspace.read", "web.visit"], drain="review")
    try:
        res = call(srv, "download_url", {"url": "http://example.com/", "output_path": "x"})
        assert res.is_error and "web.download" in text_of(res)
    finally:
        srv.stop()


def search_srv(ws, web, backend: str, extra: str = "", env: dict | None = None):
    configure(ws, f'[web_search]\nbackend = "{backend}"\n{extra}\n'
                  f'[web_search.backends.brave]\nbackend = "brave"\nurl = "{web.url("/brave")}"\napi_key_env = "BRAVE_KEY"\n'
                  f'[web_search.backends.tavily]\nbackend = "tavily"\nurl = "{web.url("/tavily")}"\napi_key_env = "TAVILY_KEY"\n'
                  f'[web_search.backends.exa]\nbackend = "exa"\nurl = "{web.url("/exa")}"\napi_key = "exa-key"\n'
                  f'[web_search.backends.searxng]\nbackend = "searxng"\nurl = "{web.url("/searx")}"\n'
                  f'[web_search.backends.ddgs]\nbackend = "ddgs"\nurl = "{web.url("/ddg")}"\n')
    return start_server(ws, capabilities=WEB_CAPS, extra_env=env or {})


@pytest.mark.parametrize("backend", ["ddgs", "searxng", "brave", "tavily", "exa"])
def test_web_search_speaks_each_backends_api(workspace, web, backend):
    srv = search_srv(workspace, web, backend, env={"BRAVE_KEY": "brave-key", "TAVILY_KEY": "tavily-key"})
    try:
        res = call(srv, "web_search", {"query": "rust async", "limit": 2})
        assert not res.is_error, text_of(res)
        assert text_of(res) == ("Title: Rust async book\nURL: https://rust-lang.github.io/async-book/\nSnippet: Asynchronous programming in Rust.\n\n"
                                "Title: Tokio tutorial\nURL: https://tokio.rs/tokio/tutorial\nSnippet: Learn Tokio step by step.")
        summary = json.loads(text_of(call(srv, "web_search", {"query": "rust async", "limit": 1, "format": "summary"})))
        assert summary["result_count"] == 1 and summary["backend_chain_used"] == [backend]
    finally:
        srv.stop()
    assert any("rust" in (r["path"] + r["body"]).lower() for r in web.requests)


def test_web_search_falls_back_when_a_backend_fails(workspace, web):
    # TAVILY_KEY is not set: tavily fails, searxng answers.
    srv = search_srv(workspace, web, "tavily", 'fallback = ["searxng"]')
    try:
        summary = json.loads(text_of(call(srv, "web_search", {"query": "q", "format": "summary"})))
        assert summary["backend_chain_used"] == ["searxng"] and summary["result_count"] == 2
    finally:
        srv.stop()
    srv = search_srv(workspace, web, "tavily")
    try:
        res = call(srv, "web_search", {"query": "q"})
        assert res.is_error and "TAVILY_KEY" in text_of(res)
    finally:
        srv.stop()


@pytest.fixture
def guarded_srv(workspace, web):
    internal = StandIn()
    web.other_port = internal.port
    # The stand-in is allowed by name; everything else private is refused.
    configure(workspace, f'[web_visit]\nallowed_hosts = ["127.0.0.1:{web.port}"]\ntimeout_ms = 3000\n')
    srv = start_server(workspace, capabilities=WEB_CAPS)
    yield srv, internal
    srv.stop()
    internal.close()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/page.html",
    "http://localhost:{port}/page.html",
    "http://[::1]:{port}/page.html",
    "http://2130706433:{port}/page.html",
    "http://[::ffff:127.0.0.1]:{port}/page.html",
    "http://0.0.0.0:{port}/page.html",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
])
def test_ssrf_attempts_are_refused(guarded_srv, url):
    srv, internal = guarded_srv
    for tool, args in [("visit_url", {}), ("download_url", {"output_path": "stolen.html"})]:
        res = call(srv, tool, {"url": url.format(port=internal.port), **args})
        body = payload(res)
        assert res.is_error and body["status"] == "blocked_by_policy", body
    assert internal.requests == [], "a refused request reached the internal server"
    assert not (srv.workspace / "stolen.html").exists()


def test_a_redirect_into_the_private_network_is_refused(guarded_srv, web):
    srv, internal = guarded_srv
    ok = call(srv, "visit_url", {"url": web.url("/page.html")})
    assert not ok.is_error, text_of(ok)
    res = call(srv, "visit_url", {"url": web.url("/to-internal")})
    body = payload(res)
    assert res.is_error and body["status"] == "blocked_by_policy", body
    assert body["effective_url"].startswith(f"http://127.0.0.1:{internal.port}/")
    assert internal.requests == []


def test_non_http_schemes_are_invalid(guarded_srv):
    srv, _ = guarded_srv
    for url in ["file:///etc/passwd", "ftp://example.com/x", "not a url"]:
        body = payload(call(srv, "visit_url", {"url": url}))
        assert body["status"] == "invalid_url", body
    for tool, args in [("visit_url", {"url": "https://example.com/"}), ("web_search", {"query": "q"}),
                       ("download_url", {"url": "https://example.com/", "output_path": "x"})]:
        res = call(srv, tool, {**args, "format": "fancy"})
        assert res.is_error and "invalid format 'fancy'" in text_of(res), text_of(res)
