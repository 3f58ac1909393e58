#!/usr/bin/env python3
"""One request to a running sdv-agent's local API, from a shell: the replies are printed as JSON lines.

    sdv-api.py [--url ws://127.0.0.1:3002/runtime] [--token TOKEN] [--timeout 30] '{"type":"list_deployed_apps"}'

Sends the request (an "id" is added when it has none) and prints its replies, one JSON object per line: the interim
frames (progress, streamed output: they carry the request's id as "requestId") and then the reply itself (the frame
with the request's "id"), where it stops. Exit status: 0 for a reply, 1 for an error (an error frame, or a reply that
carries an "error", as a failed install does), 2 for bad usage, 3 when the agent cannot be reached or does not answer
in time.

Standard library only (a container's python3 is enough): a minimal WebSocket client, text frames, no extensions.
Used by container/sdv-runtime/start_services.sh and by the systemd and container checks.
"""
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ApiError(Exception):
    pass


def connect(url, token, deadline):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "ws" or not u.hostname:
        raise ApiError("expected a ws:// URL, got %r" % url)
    port = u.port or 80
    sock = socket.create_connection((u.hostname, port), timeout=max(0.1, deadline - time.monotonic()))
    key = base64.b64encode(os.urandom(16))
    lines = [
        "GET %s HTTP/1.1" % (u.path or "/"),
        "Host: %s:%d" % (u.hostname, port),
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: " + key.decode(),
        "Sec-WebSocket-Version: 13",
    ]
    if token:
        lines.append("Authorization: Bearer " + token)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ApiError("connection closed during the WebSocket handshake")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if " 101 " not in status + " ":
        raise ApiError("WebSocket upgrade refused: " + status)
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    if b"sec-websocket-accept: " + accept.lower() not in head.lower():
        raise ApiError("bad Sec-WebSocket-Accept from the server")
    return sock, rest


class Frames:
    """Reads whole messages (text, with continuation frames) from the socket; answers pings."""

    def __init__(self, sock, rest):
        self.sock = sock
        self.buf = rest

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ApiError("connection closed by the agent")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def message(self):
        parts = []
        while True:
            b0, b1 = self._need(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._need(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._need(8))[0]
            mask = self._need(4) if b1 & 0x80 else None
            data = self._need(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x9:
                self.send(0xA, data)
                continue
            if opcode == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                raise ApiError("the agent closed the connection (%d %s)" % (code, data[2:].decode("utf-8", "replace")))
            if opcode in (0x1, 0x2, 0x0):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode("utf-8")


def main(argv):
    url, token, timeout, request = "ws://127.0.0.1:3002/runtime", os.environ.get("SDV_API_TOKEN", ""), 30.0, None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("--url", "--token", "--timeout") and args:
            v = args.pop(0)
            if a == "--url":
                url = v
            elif a == "--token":
                token = v
            else:
                timeout = float(v)
        elif request is None and not a.startswith("--"):
            request = a
        else:
            print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
            return 2
    try:
        req = json.loads(request or "")
        if not isinstance(req, dict) or not isinstance(req.get("type"), str):
            raise ValueError("not an object with a type")
    except ValueError as e:
        print("sdv-api: the request must be a JSON object with a \"type\" (%s)" % e, file=sys.stderr)
        return 2
    req.setdefault("id", "sdv-api-%d" % os.getpid())
    deadline = time.monotonic() + timeout
    try:
        sock, rest = connect(url, token, deadline)
        frames = Frames(sock, rest)
        if token:
            frames.send(0x1, json.dumps({"type": "auth", "token": token}).encode())
        frames.send(0x1, json.dumps(req).encode())
        while True:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            frame = json.loads(frames.message())
            if not isinstance(frame, dict) or req["id"] not in (frame.get("id"), frame.get("requestId")):
                continue
            print(json.dumps(frame), flush=True)
            if frame.get("id") == req["id"]:
                return 1 if frame.get("type") == "error" or frame.get("error") else 0
    except (OSError, ApiError, ValueError) as e:
        print("sdv-api: %s: %s" % (url, e if str(e) else type(e).__name__), file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
