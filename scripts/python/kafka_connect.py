"""Kafka Connect standalone and Debezium's jars from Maven, shared by bench/debezium.py and the
tests that run Debezium (or a Connect sink) beside bottledwater: fetching the jars of
scripts/java/connect/pom.xml once per version of that pom, and one standalone worker driven
through its REST API."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
BW_CACHE = Path(os.environ.get("BW_CACHE", "/var/cache/bottledwater"))
CONNECT_POM = REPO / "scripts" / "java" / "connect" / "pom.xml"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


class PeerError(RuntimeError):
    """Kafka Connect or a connector could not be fetched, started, or did not finish."""


def log(msg):
    print(f"kafka-connect: {msg}", flush=True)


def pom_hash(pom=CONNECT_POM):
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def connect_libs(pom=CONNECT_POM):
    """Where the jars of `pom` go: a directory per version of the pom, so that checkouts with
    other versions of it (and their benches) can share the cache."""
    return BW_CACHE / f"connect-{pom_hash(pom)[:12]}" / "libs"


def fetch_connect(pom=CONNECT_POM):
    """Kafka Connect and the connectors of `pom` with their dependencies, fetched by Maven once;
    returns the directory of jars."""
    libs = connect_libs(pom)
    dest = libs.parent
    stamp = dest / ".stamp"
    want = pom_hash(pom)
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
    (new / ".stamp").write_text(want + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    try:
        new.rename(dest)
    except OSError:  # another process got there first with the same jars
        shutil.rmtree(new, ignore_errors=True)
    return libs


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConnectStandalone:
    """A Kafka Connect standalone worker with no connector at start; connectors are created
    through its REST API on 127.0.0.1, so that the JVM's start is not counted as theirs.
    `worker_config` overrides or adds worker properties (e.g. the converters)."""

    def __init__(self, bootstrap, workdir, libs, worker_config=None):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "connect.log"
        config = {
            "bootstrap.servers": bootstrap,
            "key.converter": JSON_CONVERTER,
            "value.converter": JSON_CONVERTER,
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            "offset.storage.file.filename": str(self.workdir / "offsets"),
            "offset.flush.interval.ms": "1000",
            "listeners": f"http://127.0.0.1:{self.port}",
            "rest.advertised.host.name": "127.0.0.1",
            # Everything is on the classpath: the connectors are found by their service files.
            "plugin.discovery": "service_load",
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
        self.proc = subprocess.Popen(
            ["java", "-Xms256m", "-Xmx1g", f"-Dlog4j2.configurationFile={log4j}",
             "-cp", f"{libs}/*", "org.apache.kafka.connect.cli.ConnectStandalone", str(worker)],
            stdout=open(self.workdir / "connect.out", "w"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        log(f"Kafka Connect standalone started, pid {self.proc.pid}, REST {self.url}")

    def log_tail(self, lines=40):
        text = ""
        for path in (self.workdir / "connect.out", self.log_path):
            if path.exists():
                text += "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
        return text

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def check_alive(self):
        if self.proc.poll() is not None:
            raise PeerError(f"Kafka Connect exited with status {self.proc.returncode}:\n"
                            + self.log_tail())

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                self.request("GET", "/connectors")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise PeerError(f"Kafka Connect's REST API did not answer within {timeout} s:\n"
                                + self.log_tail())
            time.sleep(0.2)

    def create_connector(self, name, config):
        try:
            self.request("POST", "/connectors", {"name": name, "config": config})
        except urllib.error.HTTPError as e:
            raise PeerError(f"Kafka Connect refused connector {name}: HTTP {e.code} "
                            f"{e.read().decode(errors='replace')}")

    def check_connector(self, name):
        """Raises with the connector's own error when it or its task failed."""
        self.check_alive()
        try:
            status = self.request("GET", f"/connectors/{name}/status")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise
        for part in [status["connector"], *status.get("tasks", [])]:
            if part.get("state") == "FAILED":
                raise PeerError(f"connector {name} failed:\n{part.get('trace', part)}")
        return status

    def stop(self):
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
