#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The loopback servers the discovery cases talk to: serve.py KIND DIR listens on 127.0.0.1
on a free port, prints the port on a line of its own, and serves until it is killed. Each
connection gets a thread; what a server received is appended to DIR/received.txt, so a
case's check can see what really arrived.

  echo    sends back every byte it receives
  ack     for each line received: append it to DIR/received.txt, then answer "ok\\n"
  framed  for each request line R: answer one frame, a 4-byte big-endian length and then
          the payload "ACK " + R (the line without its newline)
  stream  on connect, sends "line 01\\n" .. "line 20\\n" in 4 bursts 20 ms apart, then
          "END\\n", then closes
"""
import os
import socket
import socketserver
import struct
import sys
import threading
import time

LOCK = threading.Lock()


def record(directory, line):
    with LOCK, open(os.path.join(directory, "received.txt"), "a") as f:
        f.write(line + "\n")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        getattr(self, "serve_" + self.server.kind)(self.request)

    def lines(self, sock):
        buf = b""
        while True:
            data = sock.recv(4096)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line.decode("utf-8", "replace")

    def serve_echo(self, sock):
        while data := sock.recv(4096):
            sock.sendall(data)

    def serve_ack(self, sock):
        for line in self.lines(sock):
            record(self.server.dir, line)
            sock.sendall(b"ok\n")

    def serve_framed(self, sock):
        for line in self.lines(sock):
            payload = ("ACK " + line).encode()
            sock.sendall(struct.pack(">I", len(payload)) + payload)

    def serve_stream(self, sock):
        for burst in range(4):
            sock.sendall(b"".join(b"line %02d\n" % (burst * 5 + i + 1) for i in range(5)))
            time.sleep(0.02)
        sock.sendall(b"END\n")
        sock.shutdown(socket.SHUT_WR)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    kind, directory = sys.argv[1], sys.argv[2]
    if not hasattr(Handler, "serve_" + kind):
        sys.exit(f"serve.py: unknown server kind {kind!r}")
    srv = Server(("127.0.0.1", 0), Handler)
    srv.kind, srv.dir = kind, directory
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
