#!/usr/bin/python3
"""
A real HTTP/2 client (Python's h2) that sends requests exactly as written,
malformed ones included: header validation and normalization are off, so
upper-case names, connection-specific fields, CR/LF/NUL in values, pseudo
headers out of order and a Content-Length that the DATA contradicts all go on
the wire. One connection per case. Reads a JSON list of cases on stdin:

  [{"headers": [[name, value], ...], "data": ["...", ...], "endStream": true}, ...]

(names and values are latin-1 strings), and prints one JSON line per case:
{"status": 200, "body": "...", "reset": null, "goaway": null, "closed": false}

usage: h2-raw-client.py HOST PORT CA CERT KEY [--servername NAME] [--timeout S]
"""
import argparse, json, socket, ssl, sys, time
import h2.connection, h2.config, h2.events

p = argparse.ArgumentParser()
p.add_argument('host'); p.add_argument('port', type=int); p.add_argument('ca'); p.add_argument('cert'); p.add_argument('key')
p.add_argument('--servername', default='localhost')
p.add_argument('--timeout', type=float, default=5)
a = p.parse_args()
cases = json.load(sys.stdin)

def run(case):
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(['h2'])
    raw = socket.create_connection((a.host, a.port), timeout=a.timeout)
    s = ctx.wrap_socket(raw, server_hostname=a.servername)
    out = {'status': None, 'body': '', 'reset': None, 'goaway': None, 'closed': False}
    cfg = h2.config.H2Configuration(client_side=True, header_encoding=None, validate_outbound_headers=False,
                                    normalize_outbound_headers=False, validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    sid = conn.get_next_available_stream_id()
    headers = [(n.encode('latin-1'), v.encode('latin-1')) for n, v in case['headers']]
    data = case.get('data', [])
    try:
        conn.send_headers(sid, headers, end_stream=not data and case.get('endStream', True))
        for i, chunk in enumerate(data):
            conn.send_data(sid, chunk.encode('latin-1'), end_stream=(i == len(data) - 1) and case.get('endStream', True))
        s.sendall(conn.data_to_send())
    except Exception as e:
        out['sendError'] = '%s: %s' % (type(e).__name__, e)
    done = [False]
    deadline = time.time() + a.timeout
    while time.time() < deadline and not done[0]:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = s.recv(65535)
        except socket.timeout:
            break
        except (ConnectionError, ssl.SSLError):
            out['closed'] = True; break
        if not chunk:
            out['closed'] = True; break
        try:
            events = conn.receive_data(chunk)
        except Exception as e:
            out['protocolError'] = str(e); break
        for ev in events:
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                out['status'] = int(dict(ev.headers)[b':status'])
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.stream_id == sid: out['body'] += ev.data.decode('latin-1')
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                done[0] = True
            elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                out['reset'] = int(ev.error_code); done[0] = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                out['goaway'] = int(ev.error_code); done[0] = True
        try:
            pending = conn.data_to_send()
            if pending: s.sendall(pending)
        except (ConnectionError, ssl.SSLError, BrokenPipeError):
            out['closed'] = True; break
    try: s.close()
    except Exception: pass
    return out

for case in cases:
    print(json.dumps(run(case)))
    sys.stdout.flush()
