"""An https:// upstream served locally with a certificate from a generated CA:
trusted through `ca_file` or RALPH_MCP_UPSTREAM_CA_FILE, refused without it,
with an error that names the upstream and the certificate problem."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import start_server
from mcp_client import call, free_port, text_of
from test_upstream import FIXTURE, UPSTREAM_CAPS, start_ready, tool_names, write_config


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(dir: Path) -> tuple[Path, Path, Path]:
    """A CA, and a localhost/127.0.0.1 certificate it signed: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("ralph-mcp test CA")).issuer_name(_name("ralph-mcp test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = dir / "ca.pem", dir / "cert.pem", dir / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


@pytest.fixture
def https_upstream(tmp_path):
    ca, cert, key = make_pki(tmp_path)
    port = free_port()
    up = subprocess.Popen([sys.executable, str(FIXTURE), "https", str(port), str(cert), str(key)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx2.get(f"https://127.0.0.1:{port}/", verify=str(ca))
            break
        except httpx2.HTTPError:
            if time.monotonic() > deadline:
                up.kill()
                raise
            time.sleep(0.05)
    yield f"https://127.0.0.1:{port}/mcp", ca
    up.terminate()
    up.wait(10)


def test_an_https_upstream_trusted_through_ca_file(workspace, https_upstream):
    url, ca = https_upstream
    write_config(workspace, f'[mcp_servers.secure]\nurl = "{url}"\nca_file = "{ca}"\n')
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS)
    try:
        res = call(srv, "ralph_custom__secure__echo", {"text": "over tls"})
        assert not res.is_error and text_of(res) == "echo: over tls"
    finally:
        srv.stop()


def test_an_https_upstream_trusted_through_the_environment(workspace, https_upstream):
    url, ca = https_upstream
    write_config(workspace, f'[mcp_servers.secure]\nurl = "{url}"\n')
    srv = start_ready(workspace, capabilities=UPSTREAM_CAPS, extra_env={"RALPH_MCP_UPSTREAM_CA_FILE": str(ca)})
    try:
        assert text_of(call(srv, "ralph_custom__secure__echo", {"text": "env ca"})) == "echo: env ca"
    finally:
        srv.stop()


def test_an_untrusted_certificate_is_refused_naming_upstream_and_problem(workspace, https_upstream):
    url, _ = https_upstream
    write_config(workspace, f'[mcp_servers.secure]\nurl = "{url}"\nstartup_timeout_ms = 3000\n')
    srv = start_server(workspace, capabilities=UPSTREAM_CAPS)
    try:
        base = srv.url.removesuffix("/mcp")
        deadline = time.monotonic() + 20
        while True:
            ups = {u["name"]: u["state"] for u in httpx2.get(f"{base}/health").json()["upstreams"]}
            state = ups.get("secure", "")
            if "down" in state or "failed" in state:
                break
            assert time.monotonic() < deadline, ups
            time.sleep(0.05)
        assert "certificate" in state.lower() and "UnknownIssuer" in state, state
        # Nothing of an upstream it could not trust is offered.
        assert not [t for t in tool_names(srv) if t.startswith("ralph_custom__secure")]
    finally:
        srv.stop()
    log = "".join(srv.stderr_lines) + (srv.proc.stderr.read() if srv.proc.stderr else "")
    assert "secure" in log and "UnknownIssuer" in log, log[-2000:]


def test_a_bad_ca_file_stops_serve_naming_the_key(workspace, tmp_path):
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    write_config(workspace, f'[mcp_servers.secure]\nurl = "https://127.0.0.1:9/mcp"\nca_file = "{bogus}"\n')
    p = subprocess.run([str(Path(__import__("conftest").BINARY)), "serve", "--port", "0", "--workspace", str(workspace)],
                       capture_output=True, text=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 125
    assert "mcp_servers.secure.ca_file" in p.stderr and str(bogus) in p.stderr, p.stderr
