#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The fake internet of the network tests, run inside a network namespace the test made:
#   DNS  (UDP ADDR:53): A records from NAME=IP arguments, NXDOMAIN for anything else
#   HTTP (ADDR:80 and ADDR:8080) and HTTPS (ADDR:443, CERT/KEY): "hello from NAME" for GET
# Usage: netbed.py ADDR CERT KEY NAME=IP...   Prints "ready" when every socket listens.
import http.server, socket, socketserver, ssl, struct, sys, threading

addr, cert, key = sys.argv[1:4]
records = dict(a.split("=", 1) for a in sys.argv[4:])

dns_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dns_sock.bind((addr, 53))

def dns():
    s = dns_sock
    while True:
        q, peer = s.recvfrom(1500)
        if len(q) < 12:
            continue
        off, labels = 12, []
        while q[off]:
            labels.append(q[off + 1:off + 1 + q[off]].decode().lower())
            off += 1 + q[off]
        qtype = struct.unpack(">H", q[off + 1:off + 3])[0]
        question = q[12:off + 5]
        ip = records.get(".".join(labels))
        answers = b""
        if ip and qtype == 1:
            answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
        rcode = 0 if ip else 3
        head = q[:2] + struct.pack(">BBHHHH", 0x81, 0x80 | rcode, 1, 1 if answers else 0, 0, 0)
        s.sendto(head + question + answers, peer)

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from %s\n" % self.headers.get("Host", "")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

servers = [Server((addr, 80), Hello), Server((addr, 8080), Hello)]
tls = Server((addr, 443), Hello)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
servers.append(tls)
threading.Thread(target=dns, daemon=True).start()
for srv in servers:
    threading.Thread(target=srv.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
