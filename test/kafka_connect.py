"""A Kafka Connect worker (standalone) for the tests and bench/debezium.py: Kafka Connect and the
Debezium PostgreSQL connector on its classpath, the plugins of scripts/java/connect/plugins on its
plugin.path (all fetched by scripts/install-deps), connectors managed through its REST API.

Every wait is bounded and watches the JVM; a connector or task that failed raises ConnectError
with the connector's own stack trace, and stop() ends the JVM by its pid (SIGTERM, then SIGKILL).
"""

import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BW_CACHE = Path(os.environ.get("BW_CACHE", "/var/cache/bottledwater"))
CONNECT_POM = REPO / "scripts" / "java" / "connect" / "pom.xml"
PLUGIN_POMS = sorted((REPO / "scripts" / "java" / "connect" / "plugins").glob("*/pom.xml"))
CONNECT_DIR = BW_CACHE / "connect"
PLUGINS_DIR = BW_CACHE / "connect-plugins"

# A worker's REST port: the dev environment's registry port plus an offset of its own (the
# isolation of scripts/dev-env's ports carries over); the tests and the bench use different ones.
PORT_OFFSET_TESTS = 50
PORT_OFFSET_BENCH = 51

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


class ConnectError(RuntimeError):
    """Kafka Connect is missing, did not start, refused a request, or a connector failed."""


def fetched_dirs():
    """(classpath directory, plugin directories), once scripts/install-deps has fetched what the
    poms (and stand-ins) name at their current contents."""
    wanted = [(CONNECT_POM.parent, CONNECT_DIR)] + [(pom.parent, PLUGINS_DIR / pom.parent.name)
                                                     for pom in PLUGIN_POMS]
    for source, dest in wanted:
        # The stamp install-deps writes: sha256sum's line for the pom and the *.java beside it.
        files = [source / "pom.xml", *sorted(source.glob("*.java"))]
        digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest() + "  -\n"
        stamp = dest / ".stamp"
        if not stamp.is_file() or stamp.read_text() != digest:
            raise ConnectError(f"{dest} does not hold what {source.relative_to(REPO)} names: "
                               f"run scripts/install-deps")
    return CONNECT_DIR / "libs", [dest for _, dest in wanted[1:]]


def jar_version(libs, artifact):
    """The version of `artifact` among the jars of `libs` (e.g. debezium-connector-postgres)."""
    for jar in sorted(Path(libs).glob(f"{artifact}-*.jar")):
        rest = jar.name[len(artifact) + 1:-len(".jar")]
        if rest[:1].isdigit():
            return rest
    return None


def connect_port(env, offset):
    return int(env["BW_REGISTRY_PORT"]) + offset


class ConnectWorker:
    """A Kafka Connect standalone worker with no connector at start, REST API on 127.0.0.1:port.

    `worker_config` adds to or overrides the worker's properties (its default converters are
    Kafka's JsonConverter with schemas, as Kafka ships them)."""

    def __init__(self, bootstrap, workdir, port, worker_config=None, heap="1g"):
        libs, plugins = fetched_dirs()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = self.workdir / "connect.log"
        self.out_path = self.workdir / "connect.out"
        config = {
            "bootstrap.servers": bootstrap,
            "key.converter": JSON_CONVERTER,
            "value.converter": JSON_CONVERTER,
            "offset.storage.file.filename": str(self.workdir / "offsets"),
            "offset.flush.interval.ms": "1000",
            "listeners": f"http://127.0.0.1:{port}",
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(port),
            "plugin.path": ",".join(map(str, plugins)),
            # Apicurio's converter has no service file: the plugins are scanned as well.
            "plugin.discovery": "hybrid_warn",
            **(worker_config or {}),
        }
        worker = self.workdir / "worker.properties"
        worker.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        log4j = self.workdir / "log4j2.properties"
        log4j.write_text("\n".join([
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = FILE",
            "appender.file.type = File",
            "appender.file.name = FILE",
            f"appender.file.fileName = {self.log_path}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            ""]))
        if subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                          text=True).stdout.strip():
            raise ConnectError(f"port {port} for Kafka Connect's REST API is taken")
        with self.out_path.open("w") as out:
            self.proc = subprocess.Popen(
                ["java", "-Xms256m", f"-Xmx{heap}", f"-Dlog4j2.configurationFile={log4j}",
                 "-cp", f"{libs}/*", "org.apache.kafka.connect.cli.ConnectStandalone",
                 str(worker)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def log_tail(self, lines=40):
        text = ""
        for path in (self.out_path, self.log_path):
            if path.exists():
                text += "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
        return text

    def check_alive(self):
        if self.proc.poll() is not None:
            raise ConnectError(f"Kafka Connect exited with status {self.proc.returncode}:\n"
                               + self.log_tail())

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            # A server error's page says nothing: the reason is in the worker's log.
            detail = e.read().decode(errors="replace") if e.code < 500 else self.log_tail()
            raise ConnectError(f"Kafka Connect answered {method} {path} with HTTP {e.code}: "
                               f"{detail}") from None
        return json.loads(raw) if raw else None

    def wait_ready(self, timeout=180):
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                self.request("GET", "/connectors")
                return
            # Not listening yet, or listening before its resources are in place (HTTP 404).
            except (urllib.error.URLError, ConnectionError, OSError, ConnectError):
                pass
            if time.monotonic() > deadline:
                raise ConnectError(f"Kafka Connect's REST API did not answer within {timeout} s:"
                                   f"\n{self.log_tail()}")
            time.sleep(0.2)

    def create(self, name, config):
        return self.request("POST", "/connectors", {"name": name, "config": config})

    def delete(self, name, timeout=60):
        """Deletes the connector, if it exists, and waits until the worker no longer lists it."""
        if name not in self.request("GET", "/connectors"):
            return
        self.request("DELETE", f"/connectors/{name}")
        self.wait_for(lambda: name not in self.request("GET", "/connectors"), timeout,
                      f"the deletion of connector {name}")

    def status(self, name):
        """The connector's status, None if there is none; raises with the connector's own error
        when it or one of its tasks failed."""
        self.check_alive()
        try:
            status = self.request("GET", f"/connectors/{name}/status")
        except ConnectError as e:
            if "HTTP 404" in str(e):
                return None
            raise
        for part in [status["connector"], *status.get("tasks", [])]:
            if part.get("state") == "FAILED":
                what = "task" if "id" in part else "connector"
                raise ConnectError(f"the {what} of connector {name} failed:\n"
                                   f"{part.get('trace', part)}")
        return status

    def check(self, *names):
        """Raises when the JVM died or one of the named connectors (or its tasks) failed."""
        self.check_alive()
        for name in names:
            self.status(name)

    def wait_running(self, name, timeout=120):
        """Waits until the connector and all its tasks (at least one) are RUNNING."""
        def running():
            status = self.status(name)
            if status is None or not status.get("tasks"):
                return False
            return all(part["state"] == "RUNNING"
                       for part in [status["connector"], *status["tasks"]])
        self.wait_for(running, timeout, f"connector {name} to run")

    def wait_for(self, predicate, timeout, what, interval=0.2, watch=()):
        """Polls `predicate` (bounded), failing at once when the JVM dies or one of the
        connectors named in `watch` fails."""
        deadline = time.monotonic() + timeout
        while True:
            self.check(*watch)
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise ConnectError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(interval)

    def stop(self, timeout=30):
        """Ends the JVM: SIGTERM (Connect stops its connectors), SIGKILL after `timeout`."""
        if self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
