#!/usr/bin/python3
"""
A real HTTP/2 client (Python's h2) that opens streams and cancels them at once
(HEADERS then RST_STREAM CANCEL), then optionally asks one normal request on the
same connection. Prints one JSON line: what the server sent back.

usage: h2-reset-client.py HOST PORT CA CERT KEY [--resets N] [--path P]
       [--final PATH] [--timeout S] [--servername NAME] [--hold S] [--settle S]
"""
import argparse, json, socket, ssl, sys, time
import h2.connection, h2.config, h2.events, h2.errors

p = argparse.ArgumentParser()
p.add_argument('host'); p.add_argument('port', type=int); p.add_argument('ca'); p.add_argument('cert'); p.add_argument('key')
p.add_argument('--resets', type=int, default=20)
p.add_argument('--path', default='/')
p.add_argument('--final', default=None)
p.add_argument('--timeout', type=float, default=10)
p.add_argument('--servername', default='localhost')
p.add_argument('--hold', type=float, default=0, help='send every HEADERS first, read answers this long, then reset them all')
p.add_argument('--settle', type=float, default=0.5, help='after the resets, read this long at most for a GOAWAY (less when one comes)')
a = p.parse_args()

ctx = ssl.create_default_context(cafile=a.ca)
ctx.load_cert_chain(a.cert, a.key)
ctx.set_alpn_protocols(['h2'])
raw = socket.create_connection((a.host, a.port), timeout=a.timeout)
s = ctx.wrap_socket(raw, server_hostname=a.servername)
out = {'alpn': s.selected_alpn_protocol(), 'resetsSent': 0, 'goaway': None, 'final': None, 'closed': False}
conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
conn.initiate_connection()
s.sendall(conn.data_to_send())

def headers(path):
    return [(':method', 'GET'), (':path', path), (':scheme', 'https'), (':authority', a.servername)]

def pump(deadline, until):
    while time.time() < deadline and not until():
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            data = s.recv(65535)
        except socket.timeout:
            return
        except (ConnectionError, ssl.SSLError):
            out['closed'] = True; return
        if not data:
            out['closed'] = True; return
        try:
            events = conn.receive_data(data)
        except Exception as e:  # a protocol error after GOAWAY
            out['protocolError'] = str(e); return
        for ev in events:
            if isinstance(ev, h2.events.ConnectionTerminated):
                out['goaway'] = {'errorCode': int(ev.error_code), 'lastStreamId': ev.last_stream_id}
            elif isinstance(ev, h2.events.ResponseReceived) and final_id[0] == ev.stream_id:
                out['final'] = {'status': int(dict(ev.headers)[':status'])}
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded) and final_id[0] == ev.stream_id:
                final_done[0] = True
        try:
            pending = conn.data_to_send()
            if pending: s.sendall(pending)
        except (ConnectionError, ssl.SSLError, BrokenPipeError):
            out['closed'] = True; return

final_id = [None]
final_done = [False]
try:
    if a.hold > 0:
        sids = []
        for i in range(a.resets):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, headers(a.path), end_stream=True)
            sids.append(sid)
        s.sendall(conn.data_to_send())
        pump(time.time() + a.hold, lambda: out['closed'])
        for sid in sids:
            conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            out['resetsSent'] += 1
        s.sendall(conn.data_to_send())
    else:
        for i in range(a.resets):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, headers(a.path), end_stream=True)
            conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            s.sendall(conn.data_to_send())
            out['resetsSent'] += 1
except Exception as e:
    out['sendError'] = type(e).__name__
# read what the server said about it (a GOAWAY, or nothing)
pump(time.time() + a.settle, lambda: out['goaway'] is not None or out['closed'])
if a.final and out['goaway'] is None and not out['closed']:
    try:
        sid = conn.get_next_available_stream_id()
        final_id[0] = sid
        conn.send_headers(sid, headers(a.final), end_stream=True)
        s.sendall(conn.data_to_send())
        pump(time.time() + a.timeout, lambda: final_done[0] or out['closed'] or out['goaway'] is not None)
    except Exception as e:
        out['sendError'] = type(e).__name__
print(json.dumps(out))
sys.stdout.flush()
try: s.close()
except Exception: pass
