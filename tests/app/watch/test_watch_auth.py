"""The watch reaches a guarded Prometheus with its config's credentials: basic auth, https with a
private CA, a bearer token through an auth proxy. A refusal is a counted tick with its reason,
never a crash, and no password or token reaches the logs."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from app.watch.config import WatchConfig
from app.watch.prometheus import EMPTY, HTTP_ERROR, UNREACHABLE
from tests.app.test_client_and_serve import free_port
from tests.app.watch.conftest import (
    Prometheus,
    RunningWatch,
    Scene,
    config_for,
    needs_prometheus,
    wait_for,
    watch_command,
    watching,
)
from tests.conftest import TinyModel

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="openssl makes the test's CA (apt-get install openssl); .ci/run has it"
)
pytestmark = needs_prometheus
PASSWORD = "watch-reader-pw-7f3a"
TOKEN = "watch-bearer-token-91c2"
# user admin, PASSWORD bcrypt-hashed as Prometheus's web config wants it (cost 5: each request
# checks it, and the tests make many)
USERS = "basic_auth_users:\n  admin: $2b$05$CBEBkRgHZ0vk92DucXR7.OuwR.6ZUFoCY3UQMVxuSzC7CaVQzlDl6\n"
SECRETS = (PASSWORD, TOKEN, "wrong-password", "wrong-token")


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the private CA's certificate: the watch's ca_file
    cert: Path  # the server's, for 127.0.0.1 and localhost, signed by the CA
    key: Path


def private_ca(folder: Path) -> Certificates:
    """A CA made for the test and a server certificate it signs, with the extensions a strict
    verifier wants (key usages, key identifiers, the names as subject alternative names)."""
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    extensions = folder / "server.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
            "-subj", "/CN=rarewatch test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", "-new", *ec, "-keyout", key, "-out", request, "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-set_serial", "2",
            "-days", "2", "-extfile", extensions, "-out", cert)  # fmt: skip
    return Certificates(ca, cert, key)


def openssl(*args: str | Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *map(str, args)], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A Prometheus behind basic auth that scrapes nothing: any answer it gives is empty."""
    prometheus = Prometheus(tmp_path_factory.mktemp("guarded"), {}, USERS)
    try:
        prometheus.start()
        yield prometheus
    finally:
        prometheus.stop()


@dataclass
class Tls:
    prometheus: Prometheus
    certificates: Certificates


@pytest.fixture(scope="module")
def tls(scene: Scene, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    """A Prometheus on https only (a private CA's certificate) and behind basic auth, scraping
    the sensors."""
    if OPENSSL is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    certificates = private_ca(folder)
    web_config = (
        f"tls_server_config:\n  cert_file: {certificates.cert}\n  key_file: {certificates.key}\n"
        + USERS
    )
    prometheus = Prometheus(
        folder, {"sensors": scene.sensors_port}, web_config, ca_file=certificates.ca
    )
    try:
        prometheus.start()
        yield Tls(prometheus, certificates)
    finally:
        prometheus.stop()


class BearerProxy(BaseHTTPRequestHandler):
    """Stands in for the auth proxy users put in front of Prometheus, which has no bearer auth of
    its own: a request without `Authorization: Bearer <token>` is refused with 401, the rest is
    forwarded to Prometheus and its answer relayed."""

    upstream: str  # set on the subclass a test serves
    token: str

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._answer(401, "text/plain", b"Unauthorized\n", {"WWW-Authenticate": "Bearer"})
            return
        answer = httpx.get(self.upstream + self.path, timeout=5)
        self._answer(answer.status_code, answer.headers["content-type"], answer.content)

    def _answer(
        self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": content_type, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the watch's logs, not the proxy's."""


@pytest.fixture(scope="module")
def bearer_proxy(scene: Scene) -> Iterator[str]:
    """The URL of a bearer-token proxy in front of the scene's Prometheus, served in a thread."""
    handler = type("Proxy", (BearerProxy,), {"upstream": scene.prometheus.url, "token": TOKEN})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record the test's watch logs (httpx's requests too); none may hold a secret."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    for secret in SECRETS:
        assert secret not in caplog.text


def connecting(url: str, **connection: object) -> WatchConfig:
    """config_for's watch of the tiny model, reaching Prometheus at `url` with `connection`."""
    raw = config_for(url, "tiny").model_dump(mode="json")
    return WatchConfig.model_validate(raw | {"prometheus": raw["prometheus"] | connection})


def admin(password: str) -> dict[str, str]:
    return {"username": "admin", "password": password}


def failed(running: RunningWatch, reason: str) -> bool:
    counted = running.value("rarewatch_watch_failed_ticks_total", model="tiny", reason=reason)
    return counted is not None


def scored(running: RunningWatch) -> bool:
    return running.value("rarewatch_anomaly_score", model="tiny") is not None


@pytest.mark.parametrize(
    ("password", "reason"), [(PASSWORD, EMPTY), ("wrong-password", HTTP_ERROR)]
)
def test_basic_auth_is_sent_and_a_refusal_is_an_http_error(
    guarded: Prometheus,
    tiny_model: TinyModel,
    logs: pytest.LogCaptureFixture,
    password: str,
    reason: str,
) -> None:
    config = connecting(guarded.url, basic_auth=admin(password))
    with watching(config, tiny_model.store) as running:
        assert wait_for(lambda: failed(running, reason), 15)
        assert not scored(running)


@needs_openssl
def test_over_https_the_private_ca_and_the_password_read_the_rows_and_score_them(
    tls: Tls, tiny_model: TinyModel, logs: pytest.LogCaptureFixture
) -> None:
    config = connecting(
        tls.prometheus.url, ca_file=str(tls.certificates.ca), basic_auth=admin(PASSWORD)
    )
    with watching(config, tiny_model.store) as running:
        # the new Prometheus needs a model's rows of scrapes before the first score
        assert wait_for(lambda: scored(running), 20)


@needs_openssl
@pytest.mark.parametrize(
    ("with_ca", "password", "reason", "said"),
    [
        (False, PASSWORD, UNREACHABLE, "CERTIFICATE_VERIFY_FAILED"),  # the CA not trusted
        (True, "wrong-password", HTTP_ERROR, "HTTP 401"),
    ],
)
def test_over_https_an_untrusted_server_or_a_wrong_password_costs_the_tick_and_says_why(
    tls: Tls,
    tiny_model: TinyModel,
    logs: pytest.LogCaptureFixture,
    with_ca: bool,
    password: str,
    reason: str,
    said: str,
) -> None:
    ca = {"ca_file": str(tls.certificates.ca)} if with_ca else {}
    config = connecting(tls.prometheus.url, basic_auth=admin(password), **ca)
    with watching(config, tiny_model.store) as running:
        assert wait_for(lambda: failed(running, reason), 15)
        assert not scored(running)
    warned = [r.getMessage() for r in logs.records if r.name == "app.watch.tick"]
    assert any(f"({reason})" in line and said in line for line in warned), warned


def test_a_bearer_token_reads_through_the_auth_proxy(
    bearer_proxy: str, tiny_model: TinyModel, logs: pytest.LogCaptureFixture
) -> None:
    with watching(connecting(bearer_proxy, bearer_token=TOKEN), tiny_model.store) as running:
        assert wait_for(lambda: scored(running), 15)


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_a_wrong_or_missing_bearer_token_is_an_http_error_401(
    bearer_proxy: str, tiny_model: TinyModel, logs: pytest.LogCaptureFixture, token: str | None
) -> None:
    config = connecting(bearer_proxy, bearer_token=token)
    with watching(config, tiny_model.store) as running:
        assert wait_for(lambda: failed(running, HTTP_ERROR), 15)
        assert not scored(running)
    warned = [r.getMessage() for r in logs.records if r.name == "app.watch.tick"]
    assert any("HTTP 401" in line for line in warned), warned


@needs_openssl
def test_the_watch_command_exports_scores_read_over_https_with_basic_auth(
    tls: Tls, tiny_model: TinyModel, tmp_path: Path
) -> None:
    port = free_port()
    raw = connecting(tls.prometheus.url).model_dump(mode="json")
    raw["prometheus"] |= {"ca_file": str(tls.certificates.ca), "basic_auth": admin(PASSWORD)}
    raw["listen"] = {"port": port}
    path = tmp_path / "watch.yaml"
    path.write_text(yaml.safe_dump(raw))
    watch = watch_command(tiny_model.store.root, path)

    def exported() -> bool:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.TransportError:
            return False
        return 'rarewatch_anomaly_score{model="tiny"}' in text

    try:
        shown = wait_for(exported, 20)
    finally:
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=30)
    assert shown, err
    assert watch.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"tensorflow": False, "keras": False}
    assert PASSWORD not in out + err
