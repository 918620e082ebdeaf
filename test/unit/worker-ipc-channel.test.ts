/**
 * The one request/serve helper both ends of the worker IPC use, over a real
 * MessageChannel (structured clone, as the cluster channel serializes): typed
 * answers both ways, errors carried back, unknown messages refused and logged
 * (never taken for another kind), a gone peer failing at once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { IpcChannel, unexpectedMessage, type IpcLogger, type IpcPort } from '../../src/cli/workers/ipc-channel.js';
import {
  PRIMARY_NOTICE_TYPES, PRIMARY_REQUEST_TYPES, WORKER_NOTICE_TYPES, WORKER_REQUEST_TYPES,
  type PrimaryNotice, type PrimaryRequest, type WorkerNotice, type WorkerRequest,
} from '../../src/cli/workers/messages.js';
import { waitFor } from '../helpers/wait.js';

function portOf(port: MessagePort): IpcPort & { closed: boolean } {
  const state = {
    closed: false,
    send: (message: object) => { port.postMessage(message); },
    isConnected: () => !state.closed,
    onMessage: (listener: (m: unknown) => void) => { port.on('message', listener); return () => { port.off('message', listener); }; },
  };
  port.on('close', () => { state.closed = true; });
  return state;
}

function memoryLog() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) => { lines.push({ level, obj: obj as Record<string, unknown>, msg }); };
  return { lines, warn: at('warn'), error: at('error') } satisfies IpcLogger & { lines: typeof lines };
}

function pair() {
  const { port1, port2 } = new MessageChannel();
  const primaryLog = memoryLog();
  const workerLog = memoryLog();
  const primaryPort = portOf(port1);
  const workerPort = portOf(port2);
  const toWorker = new IpcChannel<PrimaryRequest, PrimaryNotice, WorkerRequest, WorkerNotice>({
    port: primaryPort, takes: { requests: WORKER_REQUEST_TYPES, notices: WORKER_NOTICE_TYPES }, peer: () => ({ worker: 1 }), timeoutMs: 2_000, logger: primaryLog,
  });
  const toPrimary = new IpcChannel<WorkerRequest, WorkerNotice, PrimaryRequest, PrimaryNotice>({
    port: workerPort, takes: { requests: PRIMARY_REQUEST_TYPES, notices: PRIMARY_NOTICE_TYPES }, peer: () => ({ peer: 'primary' }), timeoutMs: 2_000, logger: workerLog,
  });
  const close = () => { toWorker.close(); toPrimary.close(); port1.close(); port2.close(); };
  return { toWorker, toPrimary, primaryLog, workerLog, primaryPort, workerPort, raw: { port1, port2 }, close };
}

describe('worker IPC channel', () => {
  it('answers requests both ways, typed by the request, and carries an error back as a rejection', async () => {
    const { toWorker, toPrimary, close } = pair();
    const notices: WorkerNotice[] = [];
    try {
      toWorker.serve({
        request: async (request) => {
          const { type } = request;
          switch (type) {
            case 'countersign:hello': return { ticketKeys: 'a2V5cw==' };
            default: throw unexpectedMessage(type);
          }
        },
        notice: (notice) => { notices.push(notice); },
      });
      toPrimary.serve({
        request: async (request) => {
          const { type } = request;
          switch (type) {
            case 'countersign:query':
              if (request.what === 'ready') return { ready: false, reasons: ['starting'] };
              throw new Error(`no ${request.what} here`);
            case 'countersign:acme': return true;
            case 'countersign:apply': return { ok: true, outcome: 'ok' };
            default: throw unexpectedMessage(type);
          }
        },
        notice: () => {},
      });
      const init = await toPrimary.request({ type: 'countersign:hello' });
      assert.equal(init.ticketKeys, 'a2V5cw==');
      const ready = await toWorker.request({ type: 'countersign:query', what: 'ready' });
      assert.deepEqual(ready, { ready: false, reasons: ['starting'] });
      assert.equal(await toWorker.request({ type: 'countersign:acme' }), true);
      await assert.rejects(toWorker.request({ type: 'countersign:query', what: 'status' }), /no status here/);
      assert.equal(toPrimary.notify({ type: 'countersign:ready', listen: '127.0.0.1:8443' }), true);
      await waitFor(() => notices.length === 1, 'the ready notice');
      assert.deepEqual(notices, [{ type: 'countersign:ready', listen: '127.0.0.1:8443' }]);
    } finally {
      close();
    }
  });

  it('refuses and logs a message of ours it does not take: never handled as another kind, and a request gets an error', async () => {
    const { toWorker, primaryLog, raw, close } = pair();
    const notices: WorkerNotice[] = [];
    const requests: WorkerRequest[] = [];
    try {
      toWorker.serve({ request: async (r) => { requests.push(r); return { ticketKeys: '' }; }, notice: (n) => { notices.push(n); } });
      const answers: unknown[] = [];
      raw.port2.on('message', (m) => { answers.push(m); });
      // a notice type the primary does not take (e.g. from a newer or older worker), a primary-only type, and a request of an unknown kind
      raw.port2.postMessage({ type: 'countersign:stopped' });
      raw.port2.postMessage({ type: 'countersign:stop' });
      raw.port2.postMessage({ type: 'countersign:resize', id: 7 });
      // someone else's message on the same channel is left alone
      raw.port2.postMessage({ cmd: 'NODE_SOMETHING' });
      await waitFor(() => primaryLog.lines.length === 3 && answers.length === 1, 'three refusals and one error answer');
      assert.deepEqual(notices, [], 'nothing unknown reaches the notice handler (an unknown message is not "ready")');
      assert.deepEqual(requests, []);
      assert.deepEqual(primaryLog.lines.map((l) => [l.level, l.msg, l.obj.type, l.obj.worker]), [
        ['warn', 'IPC message refused', 'countersign:stopped', 1],
        ['warn', 'IPC message refused', 'countersign:stop', 1],
        ['warn', 'IPC message refused', 'countersign:resize', 1],
      ]);
      assert.deepEqual(answers, [{ type: 'countersign:answer', id: 7, error: 'countersign:resize: unknown message type' }]);
    } finally {
      close();
    }
  });

  it('fails a request at once when the peer is gone, after its timeout when it does not answer, and when the channel closes', async () => {
    const { toWorker, toPrimary, primaryPort, close } = pair();
    try {
      // the worker does not serve yet: its channel refuses the request with an error
      await assert.rejects(toWorker.request({ type: 'countersign:acme' }), /countersign:acme: not serving yet/);
      // nobody answers at all
      toPrimary.close();
      const t0 = Date.now();
      await assert.rejects(toWorker.request({ type: 'countersign:acme' }, 150), /no answer within 150 ms/);
      assert.ok(Date.now() - t0 >= 140);
      const waiting = toWorker.request({ type: 'countersign:acme' }, 5_000);
      toWorker.close();
      await assert.rejects(waiting, /channel closed/);
      primaryPort.closed = true;
      assert.equal(toWorker.notify({ type: 'countersign:stop' }), false);
      await assert.rejects(toWorker.request({ type: 'countersign:acme' }), /not connected/);
    } finally {
      close();
    }
  });
});
