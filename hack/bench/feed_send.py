#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Send a JSON stream to sluiced's socket as fast as it takes it, and time
the replies (hack/bench/feed.sh).

One thread writes the file in chunks (so the socket's flow control, not
this script, paces the feed); the main thread reads the reply lines. Prints
one JSON object: CLOCK_MONOTONIC nanoseconds of the first byte sent, the
last byte sent and the last reply received, the reply count, the number of
{"ok":false} replies and the first few errors. Exit status 0 when every
value got an ok reply, 1 otherwise.
"""
import argparse
import json
import socket
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--values", type=int, required=True,
                    help="values in the file (one reply each)")
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("file")
    a = ap.parse_args()

    with open(a.file, "rb") as f:
        data = f.read()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    s.connect(a.socket)
    times = {}
    send_err = []

    def writer():
        try:
            times["first_sent_ns"] = time.monotonic_ns()
            mv = memoryview(data)
            for off in range(0, len(data), a.chunk):
                s.sendall(mv[off:off + a.chunk])
            times["last_sent_ns"] = time.monotonic_ns()
        except OSError as e:
            send_err.append(str(e))

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    replies = bad = 0
    errors = []
    buf = b""
    last_reply = None
    first_reply = None
    try:
        while replies < a.values:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            now = time.monotonic_ns()
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            for line in lines:
                if not line.strip():
                    continue
                replies += 1
                last_reply = now
                if first_reply is None:
                    first_reply = now
                try:
                    r = json.loads(line)
                except ValueError:
                    r = {"ok": False, "error": "unparsable reply: %r" % line[:200]}
                if r.get("ok") is not True:
                    bad += 1
                    if len(errors) < 10:
                        errors.append("value %d: %s" % (replies, r.get("error")))
    except OSError as e:
        send_err.append("recv: %s" % e)
    t.join(5)
    s.close()
    out = {"bytes": len(data), "values": a.values, "replies": replies, "errors": bad,
           "first_errors": errors, "first_sent_ns": times.get("first_sent_ns"),
           "last_sent_ns": times.get("last_sent_ns"), "first_reply_ns": first_reply,
           "last_reply_ns": last_reply, "socket_errors": send_err}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0 if replies == a.values and bad == 0 and not send_err else 1


if __name__ == "__main__":
    sys.exit(main())
