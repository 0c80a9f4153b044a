# SPDX-License-Identifier: MIT
"""Just enough MQTT 3.1.1 over a plain socket for drive.py and check.py: start mosquitto in
the foreground on a free loopback port with persistence in the current directory, CONNECT,
PUBLISH retained at QoS 1 (PUBACK is the broker's acknowledgement), SUBSCRIBE. Every wait is
bounded (5 s)."""
import atexit
import getpass
import os
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(log="none", persistence=True, quiet=False):
    """mosquitto in the foreground with its persistence file in the cwd; (process, port)."""
    port = free_port()
    conf = tempfile.NamedTemporaryFile("w", prefix="fl-mosquitto-", suffix=".conf",
                                       delete=False)
    # user: as root, mosquitto would become user mosquitto, who cannot write here
    conf.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n"
               f"persistence {'true' if persistence else 'false'}\n"
               f"persistence_location {os.getcwd()}/\nlog_dest {log}\n")
    conf.close()
    proc = subprocess.Popen(["mosquitto", "-c", conf.name], stdin=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL if quiet else None)
    atexit.register(forget, conf.name)
    return proc, port


def forget(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def remaining(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def text(s):
    s = s.encode()
    return len(s).to_bytes(2, "big") + s


class Client:
    def __init__(self, port, client_id, deadline_s=5):
        until = time.monotonic() + deadline_s
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > until:
                    raise
                time.sleep(0.01)
        self.sock.settimeout(deadline_s)
        body = text("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big") + text(client_id)
        self.send(0x10, body)
        kind, data = self.packet()
        if kind != 0x20 or data[1] != 0:
            raise OSError(f"CONNACK refused: {data!r}")

    def send(self, first, body):
        self.sock.sendall(bytes([first]) + remaining(len(body)) + body)

    def read(self, n):
        data = b""
        while len(data) < n:
            got = self.sock.recv(n - len(data))
            if not got:
                raise OSError("the broker closed the connection")
            data += got
        return data

    def packet(self):
        first = self.read(1)[0]
        n, shift = 0, 0
        while True:
            b = self.read(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return first & 0xF0, self.read(n)

    def publish_retained(self, topic, payload, packet_id):
        """QoS 1: True once the broker's PUBACK for it came."""
        self.send(0x33, text(topic) + packet_id.to_bytes(2, "big") + payload.encode())
        kind, data = self.packet()
        return kind == 0x40 and int.from_bytes(data[:2], "big") == packet_id

    def retained(self):
        """Every retained message: subscribe to '#', then a PINGREQ: its PINGRESP comes after
        the retained messages the subscription sent."""
        self.send(0x82, (1).to_bytes(2, "big") + text("#") + bytes([0]))
        got = {}
        pinged = False
        while True:
            kind, data = self.packet()
            if kind == 0x90 and not pinged:  # SUBACK
                self.send(0xC0, b"")
                pinged = True
            elif kind == 0x30:
                n = int.from_bytes(data[:2], "big")
                got[data[2:2 + n].decode()] = data[2 + n:].decode()
            elif kind == 0xD0:  # PINGRESP
                return got
