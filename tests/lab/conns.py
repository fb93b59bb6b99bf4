#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile clients for the resource-limit scenarios (tests/lab/test_sec_*).

Run inside a lab host (`lab exec HOST -- python3 conns.py ...`):

  hold SECONDS ADDR:PORT:COUNT...
      open COUNT idle TCP connections to each target (non-blocking: a
      connect the server never accepts stays queued or pending), print
      "ready N" once all are started, hold them SECONDS, close them all.
  idle ADDR:PORT MAX
      connect, send nothing; print the seconds until the server closes the
      connection, or "open" after MAX seconds.
  trickle ADDR:PORT MAX
      connect and send an HTTP request one byte per second (never
      finishing it); print the seconds until the server closes, or "open".
  pipeline SOCKET COUNT
      send COUNT control-protocol status requests on the Unix socket
      without reading a reply; print "dropped after N" when the agent
      closes the connection, or "not dropped" when all were sent and the
      connection is still open 5 s later.
"""
import errno
import os
import select
import socket
import sys
import time


def cmd_hold(seconds, *targets):
    socks = []
    for t in targets:
        addr, port, count = t.split(":")
        for _ in range(int(count)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((addr, int(port)))
            if err not in (0, errno.EINPROGRESS):
                sys.exit(f"connect {addr}:{port}: {os.strerror(err)}")
            socks.append(s)
    print(f"ready {len(socks)}", flush=True)
    time.sleep(float(seconds))
    for s in socks:
        s.close()


def wait_closed(s, deadline):
    """Whether the peer closes s (EOF or reset) before deadline."""
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.1)
        if r:
            try:
                if s.recv(65536) == b"":
                    return True
            except ConnectionError:
                return True
    return False


def connect(text):
    addr, port = text.rsplit(":", 1)
    return socket.create_connection((addr, int(port)), timeout=5)


def report(start, closed):
    print(f"{time.monotonic() - start:.1f}" if closed else "open", flush=True)


def cmd_idle(where, limit):
    s = connect(where)
    start = time.monotonic()
    report(start, wait_closed(s, start + float(limit)))


def cmd_trickle(where, limit):
    s = connect(where)
    start = time.monotonic()
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    for byte in request:
        try:
            s.send(bytes([byte]))
        except ConnectionError:
            report(start, True)
            return
        if wait_closed(s, min(time.monotonic() + 1, start + float(limit))):
            report(start, True)
            return
        if time.monotonic() >= start + float(limit):
            break
    report(start, False)


def cmd_pipeline(path, count):
    # proto/ctl.proto: Request { StatusRequest status = 1; } -> 0a 00,
    # framed with a 4-byte big-endian length (src/frame.c).
    frame = b"\x00\x00\x00\x02\x0a\x00"
    batch = frame * 1000
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    sent, pending = 0, b""
    deadline = time.monotonic() + 60
    while sent < int(count) or pending:
        if time.monotonic() > deadline:
            sys.exit(f"sent {sent} requests in 60 s and still not done")
        if not pending:
            pending = batch
            sent += 1000
        _, w, _ = select.select([], [s], [], 0.5)
        if not w:
            continue
        try:
            n = s.send(pending)
        except (BrokenPipeError, ConnectionResetError):
            print(f"dropped after {sent}", flush=True)
            return
        pending = pending[n:]
    # Everything went out: is the connection still open?
    if wait_closed(s, time.monotonic() + 5):
        print(f"dropped after {sent}", flush=True)
    else:
        print("not dropped", flush=True)


COMMANDS = {"hold": cmd_hold, "idle": cmd_idle, "trickle": cmd_trickle, "pipeline": cmd_pipeline}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
