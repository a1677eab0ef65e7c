#!/usr/bin/env python3
"""TCP relay for contmig's shell tests: sits between a client and the real
server so a test can cut the first connection after exactly N bytes in one
direction (FIN, or RST with --reset) and capture everything on the wire.

  relay.py --listen [ADDR:]PORT --to HOST:PORT [--cut N] [--direction up|down]
           [--capture FILE] [--reset] [--max-conns N]

'up' = client->server, 'down' = server->client (default up). Prints "listening
PORT" once listening, then runs until killed. --cut only applies to the first
connection (N=0: close at once); later ones are forwarded in full. --capture
appends up bytes of all connections to FILE, down bytes to FILE.down.
Events go to stderr as "relay: conn N: ...".
"""
import argparse, socket, struct, sys, threading
from contextlib import suppress

ARGS = None             # parsed command line
CAPS = {}               # direction -> open capture file
CAP_LOCK = threading.Lock()


def log(msg):
    print("relay: " + msg, file=sys.stderr, flush=True)


def hostport(default_host):
    def parse(s):   # "[HOST:]PORT" -> (host, port)
        host, _, port = s.rpartition(":")
        host = host.strip("[]") or default_host
        if not host or not port.isdigit():
            raise argparse.ArgumentTypeError(f"bad address {s!r}")
        return host, int(port)
    return parse


class Conn:
    def __init__(self, num, client, server, cut):
        self.num, self.cut = num, cut   # cut: None or N (first conn only)
        self.socks = {"up": (client, server), "down": (server, client)}
        self.count = {"up": 0, "down": 0}
        self.lock = threading.Lock()   # guards every state change below
        self.closed, self.eofs = False, 0
        self.cutting = False           # the cut direction sends its last bytes

    def close(self, reset=False):
        """Close both sockets; the caller holds self.lock."""
        if self.closed:
            return
        self.closed = True
        for s in self.socks["up"]:
            with suppress(OSError):
                if reset:   # SO_LINGER {on, 0}: close() sends RST, not FIN;
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                    s.shutdown(socket.SHUT_RD)  # SHUT_RD only wakes up recv
                else:
                    s.shutdown(socket.SHUT_RDWR)   # sends FIN, wakes recv
            s.close()

    def cut_now(self):
        with self.lock:
            self.close(ARGS.reset)
        log(f"conn {self.num}: cut after {self.cut} {ARGS.direction} bytes"
            + (" (RST)" if ARGS.reset else ""))

    def pump(self, d):
        src, dst = self.socks[d]
        limit = self.cut if d == ARGS.direction else None
        try:
            while True:
                data = src.recv(65536)
                if not data:   # EOF: half-close below
                    break
                if limit is not None:
                    data = data[:limit - self.count[d]]
                if limit is not None and self.count[d] + len(data) >= limit:
                    # The last bytes before the cut may draw an answer at
                    # once: nothing more goes the other way from here on.
                    self.cutting = True
                elif self.cutting:
                    return
                if d in CAPS:   # capture first so a test never misses it
                    with CAP_LOCK:
                        CAPS[d].write(data)
                        CAPS[d].flush()
                dst.sendall(data)
                self.count[d] += len(data)
                if limit is not None and self.count[d] >= limit:
                    return self.cut_now()
        except OSError as e:
            with self.lock:
                if not self.closed:
                    log(f"conn {self.num}: {d}: {e}; closing")
                    self.close()
            return
        with self.lock:
            if self.closed:   # we were cut or failed meanwhile
                return
            self.eofs += 1
            if self.eofs == 2:
                log(f"conn {self.num}: closed ({self.count['up']} up,"
                    f" {self.count['down']} down bytes)")
                return self.close()
            log(f"conn {self.num}: {d} EOF after {self.count[d]} bytes,"
                " half-closing")
            with suppress(OSError):
                dst.shutdown(socket.SHUT_WR)


def handle(num, client, cut):
    try:
        server = socket.create_connection(ARGS.to)
    except OSError as e:
        log(f"conn {num}: connect to {ARGS.to[0]}:{ARGS.to[1]} failed: {e}")
        return client.close()
    conn = Conn(num, client, server, cut)
    if cut == 0:
        return conn.cut_now()
    for d in ("up", "down"):
        threading.Thread(target=conn.pump, args=(d,), daemon=True).start()


def main():
    global ARGS
    p = argparse.ArgumentParser(description="TCP relay for tests")
    p.add_argument("--listen", required=True, metavar="[ADDR:]PORT",
                   type=hostport("127.0.0.1"))
    p.add_argument("--to", required=True, metavar="HOST:PORT",
                   type=hostport(None))
    p.add_argument("--cut", type=int, metavar="N",
                   help="first connection only: forward N bytes, then close")
    p.add_argument("--direction", choices=("up", "down"), default="up")
    p.add_argument("--capture", metavar="FILE")
    p.add_argument("--reset", action="store_true", help="cut with RST")
    p.add_argument("--max-conns", type=int, metavar="N",
                   help="stop listening after N connections (later ones are refused)")
    ARGS = args = p.parse_args()
    if (args.cut or 0) < 0:
        p.error("--cut must be >= 0")
    if args.capture:
        CAPS.update(up=open(args.capture, "ab"),
                    down=open(args.capture + ".down", "ab"))
    host, port = args.listen
    ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(16)
    print(f"listening {ls.getsockname()[1]}", flush=True)
    num = 0
    while True:
        client, addr = ls.accept()
        num += 1
        log(f"conn {num}: accepted from {addr[0]}:{addr[1]}")
        threading.Thread(target=handle, daemon=True, args=(
            num, client, args.cut if num == 1 else None)).start()
        if args.max_conns and num >= args.max_conns:
            ls.close()
            log(f"stopped listening after {num} connections")
            threading.Event().wait()   # serve those until killed


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:   # quiet exit on ^C
        pass
