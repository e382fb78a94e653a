"""Kafka Connect for bench/debezium.py and the tests that run Debezium or a Connect sink beside
bottledwater: the jars of scripts/java/connect (Kafka Connect and the Debezium PostgreSQL
connector on the worker's classpath, each of plugins/* on its plugin.path) fetched with Maven
once per version of their files, and a standalone worker driven through its REST API.

`python scripts/python/kafka_connect.py` fetches them all (scripts/install-deps does). Every wait
is bounded and watches the JVM; a failed connector raises PeerError with its own stack trace.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
BW_CACHE = Path(os.environ.get("BW_CACHE", "/var/cache/bottledwater"))
CONNECT_POM = REPO / "scripts" / "java" / "connect" / "pom.xml"
PLUGINS = REPO / "scripts" / "java" / "connect" / "plugins"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"

# A worker's REST port is the dev environment's registry port plus one of these, so that it is
# isolated as scripts/dev-env's ports are; the bench and each test module have their own.
PORT_OFFSET_BENCH = 50
PORT_OFFSET_SINK_TESTS = 51
PORT_OFFSET_ENVELOPE_TESTS = 52


def apicurio_avro_converters(ccompat_url):
    """Converter settings for Apicurio's AvroConverter as a Confluent-compatible reader and
    writer of a registry (given by its Confluent-compatible API, .../apis/ccompat/v7): the
    Confluent framing in the message itself, not in headers (magic byte, a 4-byte schema id,
    which is the content id that API hands out) and subjects <topic>-key / <topic>-value, as
    Confluent's AvroConverter with its default TopicNameStrategy."""
    url = ccompat_url.replace("/apis/ccompat/v7", "/apis/registry/v2")
    config = {}
    for side in ("key", "value"):
        config.update({
            f"{side}.converter": "io.apicurio.registry.utils.converter.AvroConverter",
            f"{side}.converter.apicurio.registry.url": url,
            f"{side}.converter.apicurio.registry.as-confluent": "true",
            f"{side}.converter.apicurio.registry.headers.enabled": "false",
            f"{side}.converter.apicurio.registry.use-id": "contentId",
            f"{side}.converter.apicurio.registry.auto-register": "true",
            f"{side}.converter.apicurio.registry.find-latest": "true",
        })
    return config


class PeerError(RuntimeError):
    """Kafka Connect or a connector could not be fetched, started, or did not finish."""


def log(msg):
    print(f"kafka-connect: {msg}", flush=True)


def sources_hash(pom):
    """The pom and the Java stand-ins beside it (see fetch)."""
    files = [pom, *sorted(pom.parent.glob("*.java"))]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def fetch(pom, dest):
    """The jars `pom` names, with their dependencies, in dest/libs, fetched by Maven once (a stamp
    holds the hash of the sources); the *.java beside the pom, stand-ins for classes that are not
    served, compiled against them into one more jar there. Returns dest/libs."""
    libs = dest / "libs"
    stamp = dest / ".stamp"
    want = sources_hash(pom)
    if stamp.is_file() and stamp.read_text().strip() == want:
        return libs
    log(f"fetching the jars of {pom.relative_to(REPO)} with Maven")
    new = dest.with_name(dest.name + f".new-{os.getpid()}")
    shutil.rmtree(new, ignore_errors=True)
    proc = subprocess.run(
        ["mvn", "-q", "-B", f"-Dmaven.repo.local={BW_CACHE / 'm2'}", "-f", str(pom),
         "dependency:copy-dependencies", f"-DoutputDirectory={new / 'libs'}"],
        capture_output=True, text=True)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).replace("\x1b[0m", "")
        raise PeerError(f"Maven could not fetch {pom.relative_to(REPO)}:\n{out[-4000:]}")
    stand_ins = sorted(map(str, pom.parent.glob("*.java")))
    if stand_ins:
        classes = new / "classes"
        for command in (["javac", "-nowarn", "-d", str(classes), "-cp", f"{new / 'libs'}/*",
                         *stand_ins],
                        ["jar", "cf", str(new / "libs" / "bottledwater-stand-ins.jar"), "-C",
                         str(classes), "."]):
            proc = subprocess.run(command, capture_output=True, text=True)
            if proc.returncode != 0:
                raise PeerError(f"{command[0]} failed on the stand-ins of "
                                f"{pom.parent.relative_to(REPO)}:\n{proc.stdout}{proc.stderr}")
        shutil.rmtree(classes)
    (new / ".stamp").write_text(want + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    try:
        new.rename(dest)
    except OSError:  # another process got there first with the same jars
        shutil.rmtree(new, ignore_errors=True)
    return libs


def fetch_connect():
    """Kafka Connect and the Debezium PostgreSQL connector: the worker's classpath. A directory per
    version of the pom, so that checkouts with other versions of it share the cache."""
    return fetch(CONNECT_POM, BW_CACHE / f"connect-{sources_hash(CONNECT_POM)[:12]}")


def fetch_plugins():
    """Each plugin of scripts/java/connect/plugins (the Debezium JDBC sink, Apicurio's
    converters): the worker's plugin.path, one directory (and class loader) per plugin."""
    dirs = []
    for pom in sorted(PLUGINS.glob("*/pom.xml")):
        dest = BW_CACHE / "connect-plugins" / f"{pom.parent.name}-{sources_hash(pom)[:12]}"
        fetch(pom, dest)
        dirs.append(dest)
    return dirs


def jar_version(libs, prefix):
    for jar in sorted(Path(libs).glob(f"{prefix}-*.jar")):
        m = re.fullmatch(re.escape(prefix) + r"-(\d[^-]*(?:-[A-Za-z]+)?)\.jar", jar.name)
        if m:
            return m.group(1)
    return None


def java_version():
    out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "([^"]+)"', out)
    return m.group(1) if m else out.strip().splitlines()[0]


def connect_port(env, offset):
    """A REST port for a worker, from the dev environment's ports (see PORT_OFFSET_*)."""
    return int(env["BW_REGISTRY_PORT"]) + offset


def port_taken(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConnectStandalone:
    """A Kafka Connect standalone worker with no connector at start, its REST API on
    127.0.0.1:`port` (connect_port; a free one if None); connectors are created through it, so
    that the JVM's start is not counted as theirs. `plugins` are plugin.path directories
    (fetch_plugins); `worker_config` overrides or adds worker properties (its default converters:
    JSON without schemas)."""

    def __init__(self, bootstrap, workdir, libs, worker_config=None, port=None, plugins=()):
        self.workdir = Path(workdir)
        port = port or free_port()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = self.workdir / "connect.log"
        self.out_path = self.workdir / "connect.out"
        config = {
            "bootstrap.servers": bootstrap,
            "key.converter": JSON_CONVERTER,
            "value.converter": JSON_CONVERTER,
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            "offset.storage.file.filename": str(self.workdir / "offsets"),
            "offset.flush.interval.ms": "1000",
            "listeners": f"http://127.0.0.1:{port}",
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(port),
            # What is on the classpath is found by its service files; Apicurio's converter has
            # none, so plugins are scanned as well.
            "plugin.discovery": "hybrid_warn" if plugins else "service_load",
            **({"plugin.path": ",".join(map(str, plugins))} if plugins else {}),
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
        if port_taken(port):
            raise PeerError(f"port {port} for Kafka Connect's REST API is taken")
        with self.out_path.open("w") as out:
            self.proc = subprocess.Popen(
                ["java", "-Xms256m", "-Xmx1g", f"-Dlog4j2.configurationFile={log4j}",
                 "-cp", f"{libs}/*", "org.apache.kafka.connect.cli.ConnectStandalone",
                 str(worker)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        log(f"Kafka Connect standalone started, pid {self.proc.pid}, REST {self.url}")

    def log_tail(self, lines=40):
        text = ""
        for path in (self.out_path, self.log_path):
            if path.exists():
                text += "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
        return text

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
            raise PeerError(f"Kafka Connect answered {method} {path} with HTTP {e.code}: "
                            f"{detail}") from None
        return json.loads(raw) if raw else None

    def check_alive(self):
        if self.proc.poll() is not None:
            raise PeerError(f"Kafka Connect exited with status {self.proc.returncode}:\n"
                            + self.log_tail())

    def wait_ready(self, timeout=180):
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                self.request("GET", "/connectors")
                return
            # Not listening yet, or listening before its resources are in place (HTTP 404).
            except (urllib.error.URLError, ConnectionError, OSError, PeerError):
                pass
            if time.monotonic() > deadline:
                raise PeerError(f"Kafka Connect's REST API did not answer within {timeout} s:\n"
                                + self.log_tail())
            time.sleep(0.2)

    def create_connector(self, name, config):
        return self.request("POST", "/connectors", {"name": name, "config": config})

    def delete_connector(self, name, timeout=60):
        """Deletes the connector, if there is one, and waits until the worker no longer has it."""
        if name not in self.request("GET", "/connectors"):
            return
        self.request("DELETE", f"/connectors/{name}")
        self.wait_for(lambda: name not in self.request("GET", "/connectors"), timeout,
                      f"the deletion of connector {name}")

    def check_connector(self, name):
        """The connector's status (None if there is no such connector); raises with the
        connector's own error when it or one of its tasks failed."""
        self.check_alive()
        try:
            status = self.request("GET", f"/connectors/{name}/status")
        except PeerError as e:
            if "HTTP 404" in str(e):
                return None
            raise
        for part in [status["connector"], *status.get("tasks", [])]:
            if part.get("state") == "FAILED":
                what = f"task {part['id']}" if "id" in part else "connector"
                raise PeerError(f"the {what} of connector {name} failed:\n"
                                f"{part.get('trace', part)}")
        return status

    def check(self, *names):
        """Raises when the JVM exited or one of the named connectors (or a task) failed."""
        self.check_alive()
        for name in names:
            self.check_connector(name)

    def wait_running(self, name, timeout=120):
        """Waits until the connector and its tasks (one at least) are all RUNNING."""
        def running():
            status = self.check_connector(name)
            return bool(status and status.get("tasks")) and all(
                part["state"] == "RUNNING" for part in [status["connector"], *status["tasks"]])
        self.wait_for(running, timeout, f"connector {name} to run")

    def wait_for(self, predicate, timeout, what, watch=(), interval=0.2):
        """Polls `predicate` until it returns something true, which is returned; fails at once
        when the JVM exits or one of the connectors named in `watch` fails."""
        deadline = time.monotonic() + timeout
        while True:
            self.check(*watch)
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise PeerError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(interval)

    def stop(self):
        """Ends the JVM: SIGTERM (Connect stops its connectors), SIGKILL after 30 s."""
        if self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            log("Kafka Connect did not stop within 30 s; killing it")
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        log(f"Kafka Connect (pid {self.proc.pid}) stopped")


if __name__ == "__main__":
    try:
        fetch_connect()
        fetch_plugins()
    except PeerError as e:
        sys.exit(f"kafka-connect: {e}")
