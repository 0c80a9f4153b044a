# The same failing connects as connect_storm.py, with an exponential backoff between them.
import socket
import time

delay = 0.01
for i in range(8):
    try:
        socket.create_connection(("127.0.0.1", 1))
    except OSError:
        time.sleep(delay)
        delay *= 2
