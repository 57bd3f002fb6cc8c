"""A small TCP forwarder that stands between a client and a broker in the outage
tests of test_brokers.py (test-only).

``BrokerProxy(port)`` listens on ``127.0.0.1`` (a free port, chosen once) and
forwards every connection to ``127.0.0.1:port``. :meth:`BrokerProxy.stop` closes
the listener and every live connection, as a broker outage or a network cut would;
:meth:`BrokerProxy.start` listens again on the same port. One thread per started
proxy moves the bytes (a selector loop); it ends in :meth:`BrokerProxy.stop`.
"""

import selectors
import socket
import threading

_CHUNK = 64 * 1024


class BrokerProxy:
    """Forwards ``127.0.0.1:<proxy port>`` to ``target_host:target_port``.

    :param target_port: the broker's port
    :param target_host: the broker's address
    """

    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = None
        self.accepted = 0
        self._thread = None
        self._wake = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        """Listen (again, on the same port once chosen) and forward connections."""
        if self._thread is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self.port or 0))
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        wake_reader, self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._serve,
            args=(listener, wake_reader),
            name=f"brokerproxy-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self):
        """Close the listener and every forwarded connection; wait for the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            self._wake.send(b"x")
        finally:
            thread.join(10)
            self._wake.close()
            self._wake = None
        if thread.is_alive():
            raise RuntimeError("the proxy thread did not end")

    def _serve(self, listener, wake_reader):
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ, "accept")
        selector.register(wake_reader, selectors.EVENT_READ, "wake")
        peers = {}
        try:
            running = True
            while running:
                for key, _events in selector.select(timeout=1.0):
                    if key.data == "wake":
                        running = False
                    elif key.data == "accept":
                        self._accept(listener, selector, peers)
                    else:
                        self._forward(key.fileobj, selector, peers)
        finally:
            for sock in list(peers):
                _close(sock)
            selector.close()
            listener.close()
            wake_reader.close()

    def _accept(self, listener, selector, peers):
        try:
            client, _address = listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        self.accepted += 1
        for sock, peer in ((client, upstream), (upstream, client)):
            sock.settimeout(5)
            peers[sock] = peer
            selector.register(sock, selectors.EVENT_READ, "data")

    def _forward(self, sock, selector, peers):
        peer = peers.get(sock)
        if peer is None:
            return
        try:
            data = sock.recv(_CHUNK)
            if data:
                peer.sendall(data)
                return
        except OSError:
            pass
        for one in (sock, peer):  # end of stream or an error: drop the pair
            peers.pop(one, None)
            try:
                selector.unregister(one)
            except (KeyError, ValueError):
                pass
            _close(one)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
