"""A TCP proxy for network faults between the worker and the Kafka brokers: each route forwards
one listening port to one broker, and tests cut, stall or slow every route at once.

- cut: every connection is closed and new ones are refused (the listening socket is closed),
  as when a network link or a host goes away;
- stall: connections stay open but no byte moves in either direction, as behind a silent
  firewall or a hung peer; buffered bytes flow again on restore;
- slow: every chunk is held `delay` seconds before it is passed on, in order.

It runs an asyncio loop on a thread of its own, so that the test's thread stays free to write,
kill and check while the proxy carries traffic.
"""

import asyncio
import threading


class FaultProxy:
    def __init__(self, routes):
        """routes: (listen_port, target_port) pairs on 127.0.0.1."""
        self.routes = list(routes)
        self.loop = asyncio.new_event_loop()
        self.servers = []
        self.connections = set()
        self.flowing = None
        self.delay = 0.0
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self):
        self.thread.start()
        self.flowing = self._call(self._new_event())
        self._call(self._listen())
        return self

    def stop(self):
        self._call(self._shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def cut(self):
        self._call(self._cut())

    def stall(self):
        self.loop.call_soon_threadsafe(self.flowing.clear)

    def slow(self, delay):
        self.delay = delay

    def restore(self):
        """Back to a clean network: listening again after a cut, flowing after a stall, no delay."""
        self.delay = 0.0
        self.loop.call_soon_threadsafe(self.flowing.set)
        if not self.servers:
            self._call(self._listen())

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _new_event(self):
        event = asyncio.Event()
        event.set()
        return event

    async def _listen(self):
        for listen_port, target_port in self.routes:
            server = await asyncio.start_server(
                lambda r, w, target=target_port: self._connect(r, w, target),
                "127.0.0.1", listen_port, reuse_address=True)
            self.servers.append(server)

    async def _cut(self):
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        self.servers = []
        for writer in list(self.connections):
            writer.transport.abort()
        self.connections.clear()

    async def _shutdown(self):
        await self._cut()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _connect(self, client_reader, client_writer, target_port):
        try:
            broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            # The broker is down (killed by the test): the client sees a closed connection,
            # as it would reaching a dead host's port.
            client_writer.transport.abort()
            return
        self.connections.update((client_writer, broker_writer))
        await asyncio.gather(self._pump(client_reader, broker_writer, client_writer),
                             self._pump(broker_reader, client_writer, broker_writer))

    async def _pump(self, reader, writer, peer):
        """Copies one direction until either side closes, then closes both."""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                if self.delay:
                    await asyncio.sleep(self.delay)
                await self.flowing.wait()
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for side in (writer, peer):
                self.connections.discard(side)
                side.transport.abort()
