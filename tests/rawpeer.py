#!/usr/bin/env python3
"""rawpeer.py: contmig's wire by hand, for tests of who a receiver admits.

  rawpeer.py connect (HOST:PORT | unix:PATH) [--from ADDR] [--count N]
                     [--hello migrate|query|none] [--keyed] [--image FILE]
                     [--wait-hello] [--close] [--hold SECS]
      Open N connections (from source address ADDR), in each send a
      sender's hello (plain, or saying it holds a key) and, with --image, the
      image in DATA frames and END (with --wait-hello, once the receiver's
      hello has come).  --close: hang up at once after that, reading nothing
      more.  Otherwise print, for each, how the receiver answered ("status 0"
      for a hello that accepts, "status 70" for a refusal, "closed" if it
      hung up without a hello), then "held N" and keep them all open for SECS
      (default 30).

  rawpeer.py serve HOST:PORT --log FILE
      An impostor: accept connections, answer a sender's hello as a keyless
      receiver would, and take whatever follows.  FILE says how many
      connections came and how many bytes they sent, rewritten as they come.

Only the Python standard library; written for the system's python3, since
tests run it as other users too.
"""
import os
import socket
import struct
import sys
import threading
import time

MAGIC = b"contmig\n"
MIGRATE, QUERY, SERVER = 1, 2, 3
DATA, END = 2, 3
FRAME_MAX = 1 << 20


def hello(kind, keyed, status=0):
    return struct.pack("<8sHBBB3x16s32s", MAGIC, 1, kind, int(keyed), status,
                       os.urandom(16), os.urandom(32))


def frame(kind, payload=b""):
    return struct.pack("<I", 1 + len(payload)) + bytes([kind]) + payload


def image_frames(path):
    with open(path, "rb") as f:
        data = f.read()
    out = b"".join(frame(DATA, data[i:i + FRAME_MAX])
                   for i in range(0, len(data), FRAME_MAX))
    return out + frame(END)


def address(spec):
    if spec.startswith("unix:"):
        return socket.AF_UNIX, spec[5:]
    host, port = spec.rsplit(":", 1)
    return socket.AF_INET, (host, int(port))


def recv_exactly(s, n):
    got = b""
    while len(got) < n:
        try:
            more = s.recv(n - len(got))
        except OSError:
            return got
        if not more:
            return got
        got += more
    return got


def answer(s):
    """Say how the receiver answered a hello."""
    s.settimeout(10)
    got = recv_exactly(s, 64)
    if len(got) < 64:
        print("closed", flush=True)
    else:
        print("status %d" % got[12], flush=True)


def connect(args):
    spec = args.pop(0)
    source, count, kind, keyed, image, close, hold = None, 1, "migrate", False, b"", False, 30.0
    wait_hello = False
    while args:
        opt = args.pop(0)
        if opt == "--from":
            source = args.pop(0)
        elif opt == "--count":
            count = int(args.pop(0))
        elif opt == "--hello":
            kind = args.pop(0)
        elif opt == "--keyed":
            keyed = True
        elif opt == "--image":
            image = image_frames(args.pop(0))
        elif opt == "--wait-hello":
            wait_hello = True
        elif opt == "--close":
            close = True
        elif opt == "--hold":
            hold = float(args.pop(0))
        else:
            sys.exit("rawpeer: unknown option " + opt)
    family, addr = address(spec)
    first = b""
    if kind != "none":
        first = hello(MIGRATE if kind == "migrate" else QUERY, keyed)
    if not wait_hello:
        first, image = first + image, b""
    held = []
    for _ in range(count):
        s = socket.socket(family, socket.SOCK_STREAM)
        # Bounded: a receiver that stops reading fails the test, not hangs it.
        s.settimeout(30)
        if source:
            s.bind((source, 0))
        s.connect(addr)
        if first:
            s.sendall(first)
        if wait_hello:
            answer(s)
            s.sendall(image)
        if close:
            s.close()
            continue
        held.append(s)
    for s in held:
        if kind == "none" or wait_hello:
            break
        answer(s)
    print("held %d" % len(held), flush=True)
    if held:
        time.sleep(hold)


def serve(args):
    spec = args.pop(0)
    if args[:1] != ["--log"]:
        sys.exit("rawpeer: serve needs --log FILE")
    log = args[1]
    family, addr = address(spec)
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(addr)
    srv.listen(16)
    totals = {"connections": 0, "bytes": 0}
    lock = threading.Lock()

    def note():
        with open(log + ".tmp", "w") as f:
            f.write("connections %d bytes %d\n" % (totals["connections"], totals["bytes"]))
        os.replace(log + ".tmp", log)

    def take(c):
        answered = False
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                break
            if not data:
                break
            with lock:
                totals["bytes"] += len(data)
                note()
            if not answered:
                answered = True
                try:
                    c.sendall(hello(SERVER, False))
                except OSError:
                    break
        c.close()

    with lock:
        note()
    print("listening", flush=True)
    while True:
        c, _ = srv.accept()
        with lock:
            totals["connections"] += 1
            note()
        threading.Thread(target=take, args=(c,), daemon=True).start()


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ("connect", "serve"):
        sys.exit(__doc__)
    (connect if args.pop(0) == "connect" else serve)(args)


if __name__ == "__main__":
    main()
