"""A countersign-aware Python HTTPS backend (stdlib only): it trusts the
delegation CA (and, for direct clients, the client CA), unwraps the original
client from the minted certificate, and applies a KES-style policy.

  python3 example/server.py --cert backend.crt --key backend.key \\
    --ca delegation-ca.crt --delegation-ca delegation-ca.crt \\
    --policy app --allow '/v1/key/*/*' --identity "$(countersign identity of alice.crt)"

Every allowed request is answered with the identity as JSON. It prints
"listening <port>" once it accepts connections.
"""
import http.server
import json
import pathlib
import ssl
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from countersign_backend import Guard, Identifier, PolicyEngine  # noqa: E402

USAGE = ("usage: server.py --cert F --key F --ca F [--ca F] --delegation-ca F [--allow-direct] [--listen 127.0.0.1:0]\n"
         "  [--policy NAME [--allow PATTERN]... [--deny PATTERN]... [--identity HEX]...]...")


def parse(argv):
    o = {"ca": [], "delegation_ca": [], "allow_direct": False, "listen": "127.0.0.1:0", "policies": {}}
    current, i = None, 0
    while i < len(argv):
        flag = argv[i]
        if flag == "--allow-direct":
            o["allow_direct"] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            sys.exit(f"{flag} needs a value\n{USAGE}")
        val = argv[i + 1]
        i += 2
        if flag in ("--cert", "--key", "--listen"):
            o[flag[2:]] = val
        elif flag in ("--ca", "--delegation-ca"):
            o[flag[2:].replace("-", "_")].append(val)
        elif flag == "--policy":
            current = o["policies"].setdefault(val, {"allow": [], "deny": [], "identities": []})
        elif flag in ("--allow", "--deny", "--identity"):
            if current is None:
                sys.exit(f"{flag} must follow --policy NAME\n{USAGE}")
            current["identities" if flag == "--identity" else flag[2:]].append(val)
        else:
            sys.exit(f"unknown flag {flag}\n{USAGE}")
    if not (o.get("cert") and o.get("key") and o["ca"]):
        sys.exit(f"--cert, --key and --ca are required\n{USAGE}")
    return o


def main():
    o = parse(sys.argv[1:])
    identifier = Identifier([pathlib.Path(f).read_text() for f in o["delegation_ca"]], allow_direct=o["allow_direct"])
    policy = PolicyEngine(o["policies"]) if o["policies"] else None

    def on_refused(outcome, method, path):
        who = outcome.identity.identity if outcome.identity else "-"
        print(f"refused status={outcome.status} code={outcome.body['code']} reason={outcome.reason!r} method={method} path={path} identity={who}", file=sys.stderr, flush=True)

    guard = Guard(identifier, policy, on_refused)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(o["cert"], o["key"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])  # http.server has no HTTP/2
    for f in o["ca"]:
        ctx.load_verify_locations(cafile=f)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            self.request.do_handshake()  # in the connection's thread, not the accept loop
            super().setup()

        def _reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self):
            out = guard.check(self.connection, self.command, self.path)
            if not out.ok:
                return self._reply(out.status, out.body)
            i = out.identity
            self._reply(200, {"via": i.via, "identity": i.identity, "subject": i.subject, "issuer": i.issuer,
                              "namesVouched": "true" if i.names_vouched else "false", "certSha256": i.cert_sha256,
                              "policy": out.policy or "", "proxy": i.proxy.identity if i.proxy else "", "path": self.path.split("?")[0]})

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, fmt, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            print(f"connection from {client_address[0]}: {sys.exc_info()[1]}", file=sys.stderr, flush=True)

    host, port = o["listen"].rsplit(":", 1)
    server = Server((host, int(port)), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
