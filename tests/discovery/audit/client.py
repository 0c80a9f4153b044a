# A client of a local server: blocking recv with no timeout, or (with an argument) a socket
# timeout, which Python implements as a poll with a timeout before each recv.
import socket
import sys
import threading

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
if len(sys.argv) > 1:
    s.settimeout(float(sys.argv[1]))
print(s.recv(100).decode().strip())
