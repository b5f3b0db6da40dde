#!/usr/bin/env python3
"""A stand-in for a .NET service whose runtime misbehaves, for the Ctrl-C tests.

It serves HTTP 200 on 127.0.0.1:$PORT (readiness and load) and opens a .NET
diagnostics socket the way the runtime does ($TMPDIR or /tmp,
`dotnet-diagnostic-{pid}-{start time}-socket`), speaking just enough of the
IPC protocol (20-byte header "DOTNET_IPC_V1\\0", u16 size, u8 set, u8 id,
u16 reserved) to misbehave on a dump request:

    fake_runtime.py hang-dump    never answer a dump request
    fake_runtime.py write-dump   write a few bytes where the dump should go, answer OK
"""

import http.server
import os
import signal
import socket
import struct
import sys
import threading
import time

MODE = sys.argv[1]


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def serve_http():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Ok)
    server.serve_forever()


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def handle(conn):
    header = read_exact(conn, 20)
    size, command_set, command_id = struct.unpack_from("<HBB", header, 14)
    payload = read_exact(conn, size - 20)
    if command_set != 0x01:  # not a dump request: refuse (HRESULT E_NOTIMPL)
        conn.sendall(b"DOTNET_IPC_V1\0" + struct.pack("<HBBH", 24, 0xFF, 0xFF, 0) + struct.pack("<I", 0x80004001))
        return
    mark = os.environ.get("FAKE_MARK")
    if mark:
        open(mark, "w").close()  # tells the test the dump was asked for
    if MODE == "hang-dump":
        time.sleep(3600)
    units = struct.unpack_from("<I", payload, 0)[0]
    path = payload[4 : 4 + 2 * (units - 1)].decode("utf-16-le")
    with open(path, "wb") as f:
        f.write(b"\x7fELF not really a core")
    conn.sendall(b"DOTNET_IPC_V1\0" + struct.pack("<HBBH", 24, 0xFF, 0x00, 0) + struct.pack("<I", 0))


def main():
    threading.Thread(target=serve_http, daemon=True).start()
    with open("/proc/self/stat") as f:
        start_time = f.read().rsplit(")", 1)[1].split()[19]
    directory = os.environ.get("TMPDIR") or "/tmp"
    path = os.path.join(directory, f"dotnet-diagnostic-{os.getpid()}-{start_time}-socket")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    # Stopped with SIGTERM: leave no stale socket behind.
    signal.signal(signal.SIGTERM, lambda *_: (os.unlink(path), os._exit(0)))
    try:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    finally:
        os.unlink(path)


main()
