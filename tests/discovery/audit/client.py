# A client of a local server: blocking recv with no timeout, or (with a TIMEOUT) a socket
# timeout, which Python implements as a poll with a timeout before each recv. With --epoll it
# waits for the answer in an epoll set instead (selectors.EpollSelector: epoll_wait with no
# timeout, or with TIMEOUT), then reads it without blocking.
import selectors
import socket
import sys
import threading

args = [a for a in sys.argv[1:] if a != "--epoll"]
use_epoll = "--epoll" in sys.argv[1:]
timeout = float(args[0]) if args else None

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
port = srv.getsockname()[1]


def serve():
    c, _ = srv.accept()
    c.sendall(b"hello\n")
    c.close()


threading.Thread(target=serve, daemon=True).start()
s = socket.create_connection(("127.0.0.1", port))
if use_epoll:
    s.setblocking(False)
    sel = selectors.EpollSelector()
    sel.register(s, selectors.EVENT_READ)
    while not sel.select(timeout):
        pass
elif timeout is not None:
    s.settimeout(timeout)
print(s.recv(100).decode().strip())
