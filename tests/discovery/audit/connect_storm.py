# Failing connects in a tight loop, no backoff.
import socket
for i in range(50):
    try: socket.create_connection(("127.0.0.1", 1))
    except OSError: pass
