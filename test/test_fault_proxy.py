"""The fault proxy itself (test/fault_proxy.py), against a local echo server: each fault does
to a connection what test_cluster_faults relies on, and restore undoes it. No servers needed."""

import socket
import socketserver
import threading
import time

import pytest

from conftest import free_port
from fault_proxy import FaultProxy


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def proxy():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    listen_port = free_port()
    proxy = FaultProxy([(listen_port, server.server_address[1])]).start()
    proxy.port = listen_port
    yield proxy
    proxy.stop()
    server.shutdown()
    server.server_close()


def connect(proxy):
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def echo(conn, payload=b"ping"):
    conn.sendall(payload)
    return conn.recv(65536)


def test_traffic_flows_through(proxy):
    with connect(proxy) as conn:
        assert echo(conn) == b"ping"


def test_cut_closes_connections_and_refuses_new_ones_until_restored(proxy):
    with connect(proxy) as conn:
        assert echo(conn) == b"ping"
        proxy.cut()
        conn.settimeout(2)
        try:
            assert conn.recv(65536) == b"", "the cut connection still carries bytes"
        except ConnectionResetError:
            pass
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.restore()
    with connect(proxy) as conn:
        assert echo(conn) == b"ping"


def test_stall_holds_bytes_on_an_open_connection_until_restored(proxy):
    with connect(proxy) as conn:
        proxy.stall()
        conn.sendall(b"held")
        conn.settimeout(1)
        with pytest.raises(socket.timeout):
            conn.recv(65536)
        proxy.restore()
        conn.settimeout(5)
        assert conn.recv(65536) == b"held"


def test_slow_delays_every_chunk(proxy):
    with connect(proxy) as conn:
        proxy.slow(0.3)
        start = time.monotonic()
        assert echo(conn) == b"ping"
        # Held once on the way there and once on the way back.
        assert time.monotonic() - start >= 0.6
        proxy.restore()
        start = time.monotonic()
        assert echo(conn) == b"ping"
        assert time.monotonic() - start < 0.3
