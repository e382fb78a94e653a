"""bottledwater.schema_registry_user_info and schema_registry_ca_file end to end: the worker in
output_format avro registers its schemas through a reverse proxy that puts TLS (a CA made for
the test) and HTTP basic auth in front of the real registry, which itself has neither.

Messages are decoded with schemas fetched by id from the real registry directly, so a schema the
worker registered through the proxy is the one its frames name.
"""

import base64
import http.server
import shutil
import ssl
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
from psycopg import sql

from test_avro_registry import Registry, use_avro
from test_worker import bw_db, real_messages, status, wait_for  # noqa: F401 (fixture)

USER = "bw-registry-user"
ROWS = [(1, "one"), (2, "two"), (3, "three")]


def openssl(cwd, *args):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory, name):
    openssl(directory, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem")
    return directory / f"{name}.pem", directory / f"{name}.key"


@pytest.fixture
def pki(tmp_path):
    """A CA and its server certificate for 127.0.0.1, plus an unrelated CA. The CA files go to a
    0755 directory of their own: the server runs as the postgres OS user, and tmp_path's parents
    are private to the user running pytest."""
    ca, ca_key = make_ca(tmp_path, "ca")
    other_ca, _ = make_ca(tmp_path, "other-ca")
    # curl matches an IP address in the URL against the certificate's IP subjectAltName only.
    (tmp_path / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl(tmp_path, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")
    openssl(tmp_path, "x509", "-req", "-in", "server.csr", "-CA", ca, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "1", "-extfile", "server.ext", "-out", "server.pem")
    public = Path(tempfile.mkdtemp(prefix="bw-registry-ca-"))
    public.chmod(0o755)
    for pem in (ca, other_ca):
        shutil.copy(pem, public)
        (public / pem.name).chmod(0o644)
    yield SimpleNamespace(ca=str(public / ca.name), other_ca=str(public / other_ca.name),
                          cert=tmp_path / "server.pem", key=tmp_path / "server.key")
    shutil.rmtree(public)


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    """Checks basic auth, then forwards the request to the registry and returns its answer."""

    def do_GET(self):
        proxy = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorized = self.headers.get("Authorization") == proxy.authorization
        proxy.seen.append((self.command, self.path, authorized))
        if not authorized:
            self.reply(401, b'{"error_code": 401, "message": "Unauthorized"}',
                       "application/json", {"WWW-Authenticate": 'Basic realm="registry"'})
            return
        if proxy.overloaded:
            self.reply(503, b'{"error_code": 50301, "message": "overloaded"}',
                       "application/json")
            return
        if proxy.not_found:
            self.reply(404, b"<html><body>404 Not Found</body></html>", "text/html")
            return
        headers = {k: self.headers[k] for k in ("Content-Type", "Accept") if k in self.headers}
        request = urllib.request.Request(proxy.upstream + self.path, method=self.command,
                                         data=body if self.command == "POST" else None,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status_, data, ctype = answer.status, answer.read(), answer.headers["Content-Type"]
        except urllib.error.HTTPError as error:  # the registry's 4xx/5xx go back as they are
            status_, data, ctype = error.code, error.read(), error.headers["Content-Type"]
        except OSError as error:
            # The shared registry may be restarted by other tests: answer like a real proxy
            # (502, which the worker retries) instead of dropping the connection.
            status_, data, ctype = 502, str(error).encode(), "text/plain"
        self.reply(status_, data, ctype)

    do_POST = do_GET

    def reply(self, code, data, ctype, extra=None):
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # `seen` is the record; keep the test output quiet


@pytest.fixture
def proxy(pki, registry_url):
    """The registry behind TLS and basic auth, at proxy.url (same API path as the registry).
    proxy.seen lists (method, path, authorized) of every request that got past the handshake."""
    upstream = urlsplit(registry_url)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ProxyHandler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    # A failed handshake raises OSError in accept(), which socketserver ignores.
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.upstream = f"{upstream.scheme}://{upstream.netloc}"
    server.password = f"pw-{uuid.uuid4().hex}"
    server.authorization = "Basic " + base64.b64encode(
        f"{USER}:{server.password}".encode()).decode()
    server.seen = []
    server.overloaded = False  # while True, every authorized request gets a 503
    server.not_found = False  # while True, every authorized request gets a proxy's 404 page
    server.url = f"https://127.0.0.1:{server.server_address[1]}{upstream.path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def set_registry_access(pg, bw_db, user_info=None, ca_file=None):
    """Per-database settings, as superuser (both are PGC_SUSET); DROP DATABASE removes them."""
    for name, value in (("user_info", user_info), ("ca_file", ca_file)):
        if value is not None:
            pg.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(bw_db["name"]),
                sql.SQL(f"bottledwater.schema_registry_{name}"), sql.Literal(value)))


def start_with_rows(bw_db):
    """Starts the worker, then inserts ROWS; returns the worker's pid and the table's topic."""
    db = bw_db["conn"]
    db.execute("CREATE TABLE secured (id int primary key, v text)")
    pid = db.execute("SELECT bw_start(%s)", (bw_db["name"],)).fetchone()[0]
    db.cursor().executemany("INSERT INTO secured VALUES (%s, %s)", ROWS)
    return pid, bw_db["prefix"] + "secured"


def decoded_rows(registry_url, messages):
    reg = Registry(registry_url)
    rows = []
    for m in messages:
        (_, _, key), (_, _, value) = reg.decode(m.key()), reg.decode(m.value())
        assert key == {"id": value["id"]}
        rows.append((value["id"], value["v"]))
    return rows


def registrations(proxy, topic):
    """The worker's authorized registrations of the topic's two subjects, after it has read the
    value subject's latest version (no table takes a subject of bw_emit's op "m" events); a set:
    a worker asks again after a registry outage."""
    path = urlsplit(proxy.url).path
    return {("GET", f"{path}/subjects/{topic}-value/versions/latest", True),
            ("POST", f"{path}/subjects/{topic}-key/versions", True),
            ("POST", f"{path}/subjects/{topic}-value/versions", True)}


def test_proxy_demands_its_password_and_its_ca(proxy, pki):
    """The proxy the worker tests rely on: without this, their failures would prove nothing."""
    subjects = f"{proxy.url}/subjects"
    for ca in (True, pki.other_ca):  # the system's CAs, another CA
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(subjects, auth=(USER, proxy.password), verify=ca, timeout=10)
    assert requests.get(subjects, auth=(USER, "wrong"), verify=pki.ca,
                        timeout=10).status_code == 401
    assert requests.get(subjects, verify=pki.ca, timeout=10).status_code == 401
    # Retried: a 502 while the shared registry is being restarted by someone else.
    wait_for(lambda: requests.get(subjects, auth=(USER, proxy.password), verify=pki.ca,
                                  timeout=10).status_code == 200, what="the registry via the proxy")
    authorized = [ok for _, _, ok in proxy.seen]
    assert authorized[:2] == [False, False] and all(authorized[2:])


def test_worker_registers_through_tls_and_basic_auth(bw_db, pg, registry_url, proxy, pki,
                                                      consumer_factory, consume):
    use_avro(pg, bw_db, proxy.url)
    set_registry_access(pg, bw_db, user_info=f"{USER}:{proxy.password}", ca_file=pki.ca)
    _, topic = start_with_rows(bw_db)

    messages = consume(consumer_factory([topic]), len(ROWS), timeout=60)
    assert decoded_rows(registry_url, messages) == ROWS
    # Both subjects were registered through the proxy, with the credentials.
    assert set(proxy.seen) == registrations(proxy, topic)


# on_error = log skips a table whose schema the registry rejects; refused credentials would skip
# every table, so they stop the worker under either setting.
@pytest.mark.parametrize("on_error", ["exit", "log"])
def test_wrong_password_is_rejected_and_never_shown(bw_db, pg, dev_env, registry_url, proxy,
                                                     pki, on_error, consumer_factory, consume):
    server_log = Path(dev_env["BW_PG_LOG"])
    log_start = server_log.stat().st_size
    wrong = f"wrong-{uuid.uuid4().hex}"
    use_avro(pg, bw_db, proxy.url)
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.on_error = '{on_error}'")
    set_registry_access(pg, bw_db, user_info=f"{USER}:{wrong}", ca_file=pki.ca)
    _, topic = start_with_rows(bw_db)
    db = bw_db["conn"]
    consumer = consumer_factory([topic])

    # A refusal of the request, not an outage and not a verdict on the schema: the ERROR ends the
    # worker, and the postmaster starts it again 5 s later, which fails the same way.
    failed = wait_for(lambda: (lambda s: s if s["state"] == "restarting" else None)(
        status(db, bw_db["name"])), what="the worker to fail")
    error = failed["last_error"]
    # Refused at the worker's first request of the registry (see registrations()).
    assert f"schema registry at {proxy.url} refused the request reading the latest schema" in error
    assert "(HTTP 401)" in error
    assert wrong not in error
    # Each start asks once, without the right credentials.
    wait_for(lambda: len(proxy.seen) >= 2, timeout=20, what="the worker to be started again")
    assert real_messages(consumer, 2.0) == []
    assert not any(authorized for _, _, authorized in proxy.seen)

    # The rows stayed in the slot: with the right password a restarted worker delivers them.
    set_registry_access(pg, bw_db, user_info=f"{USER}:{proxy.password}")
    messages = consume(consumer, len(ROWS), timeout=60)
    assert decoded_rows(registry_url, messages) == ROWS

    logged = server_log.read_bytes()[log_start:].decode(errors="replace")
    assert f"{proxy.url} refused the request" in logged  # the right log, and it has the error
    assert wrong not in logged and proxy.password not in logged


@pytest.mark.parametrize("ca_file", ["", "other_ca"], ids=["system CAs", "another CA"])
def test_unverifiable_certificate_is_a_backoff_that_produces_nothing(
        bw_db, pg, registry_url, proxy, pki, ca_file, consumer_factory, consume):
    use_avro(pg, bw_db, proxy.url)
    set_registry_access(pg, bw_db, user_info=f"{USER}:{proxy.password}",
                        ca_file=getattr(pki, ca_file) if ca_file else "")
    pid, topic = start_with_rows(bw_db)
    db = bw_db["conn"]
    consumer = consumer_factory([topic])

    # Failing TLS is an unreachable registry: the worker waits in backoff and retries.
    backoff = wait_for(lambda: (lambda s: s if s["state"] == "backoff" else None)(
        status(db, bw_db["name"])), what="backoff")
    assert backoff["pid"] == pid
    assert f"schema registry at {proxy.url} unavailable" in backoff["last_error"]
    assert "SSL certificate problem" in backoff["last_error"]
    assert real_messages(consumer, 2.0) == []
    assert proxy.seen == []  # no request got past the handshake

    # The CA it should have had lets a new worker deliver the rows.
    db.execute("SELECT bw_stop(%s)", (bw_db["name"],))
    set_registry_access(pg, bw_db, ca_file=pki.ca)
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    assert decoded_rows(registry_url, consume(consumer, len(ROWS), timeout=60)) == ROWS
    assert set(proxy.seen) == registrations(proxy, topic)


def start_through_proxy(bw_db, pg, proxy, pki, consumer_factory):
    """Streams in Avro through the proxy with the right credentials; returns the worker's pid,
    the database connection and a consumer of the table's topic."""
    use_avro(pg, bw_db, proxy.url)
    set_registry_access(pg, bw_db, user_info=f"{USER}:{proxy.password}", ca_file=pki.ca)
    pid, topic = start_with_rows(bw_db)
    return pid, bw_db["conn"], consumer_factory([topic])


def test_a_registry_answering_5xx_is_a_backoff_and_nothing_is_lost(
        bw_db, pg, registry_url, proxy, pki, consumer_factory, consume):
    proxy.overloaded = True
    pid, db, consumer = start_through_proxy(bw_db, pg, proxy, pki, consumer_factory)

    backoff = wait_for(lambda: (lambda s: s if s["state"] == "backoff" else None)(
        status(db, bw_db["name"])), what="backoff")
    assert f"schema registry at {proxy.url} unavailable reading the latest schema" in \
        backoff["last_error"]
    assert "(HTTP 503): overloaded" in backoff["last_error"]
    wait_for(lambda: len(proxy.seen) >= 3, what="the worker to ask again")
    assert real_messages(consumer, 2.0) == []
    assert status(db, bw_db["name"])["pid"] == pid  # waiting, not restarting

    proxy.overloaded = False
    assert decoded_rows(registry_url, consume(consumer, len(ROWS), timeout=60)) == ROWS
    assert status(db, bw_db["name"])["pid"] == pid


def test_a_404_is_no_verdict_on_the_schema_and_skips_nothing_under_on_error_log(
        bw_db, pg, registry_url, proxy, pki, consumer_factory, consume):
    """A mistyped URL or a proxy answers 404 for every subject: were that a rejection, on_error =
    log would give up every table while the slot advances. It stops the worker instead."""
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.on_error = 'log'")
    proxy.not_found = True
    _, db, consumer = start_through_proxy(bw_db, pg, proxy, pki, consumer_factory)

    failed = wait_for(lambda: (lambda s: s if s["state"] == "restarting" else None)(
        status(db, bw_db["name"])), what="the worker to stop on the 404")
    assert "refused the request registering the schema" in failed["last_error"]
    assert "(HTTP 404)" in failed["last_error"]
    assert failed["skipped"] == 0
    assert real_messages(consumer, 2.0) == []

    # Nothing was given up: once the registry answers, the restarted worker delivers every row.
    proxy.not_found = False
    assert decoded_rows(registry_url, consume(consumer, len(ROWS), timeout=60)) == ROWS
    assert status(db, bw_db["name"])["skipped"] == 0
