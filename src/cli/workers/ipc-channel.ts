/**
 * One typed request/serve helper for both ends of the cluster IPC channel:
 * the primary holds one per worker, a worker one to its primary.
 *
 * - `request()` sends a request with a fresh id and resolves with the answer
 *   of that id, or rejects when none comes in time or the channel closes;
 * - `notify()` sends a notice (no answer);
 * - `serve()` hands each incoming request and notice to the side's handlers
 *   and sends the request's answer (or its error) back;
 * - a message of ours (`countersign:`) whose type this side does not take is
 *   refused: logged, and answered with an error when it asked for an answer;
 * - every send goes through one `connected` check: a peer that is gone gets
 *   nothing, and a request to it fails at once.
 */
import type { AnswerTo } from './messages.js';

/** The other process as node:cluster gives it: a `Worker` in the primary, `process` in a worker. */
export interface IpcPort {
  send(message: object): void;
  isConnected(): boolean;
  onMessage(listener: (message: unknown) => void): () => void;
}

export interface Message { type: string }

/** What the channel logs through (pino's logger fits). */
export interface IpcLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The answer to request `id` on the wire. */
interface AnswerMessage { type: 'countersign:answer'; id: number; result?: unknown; error?: string }

export interface IpcHandlers<Request extends Message, Notice extends Message> {
  /** resolves to the request's answer; a rejection is sent back as its error */
  request(request: Request): Promise<AnswerTo<Request>>;
  notice(notice: Notice): void;
}

export interface IpcChannelOptions<InRequest extends Message, InNotice extends Message> {
  port: IpcPort;
  /** the request and notice types this side takes; any other `countersign:` message is refused */
  takes: { requests: readonly InRequest['type'][]; notices: readonly InNotice['type'][] };
  /** who is at the other end, for log lines (e.g. `{ worker: 2, pid }`) */
  peer: () => object;
  /** default wait for an answer, ms */
  timeoutMs: number;
  logger: IpcLogger;
}

const ANSWER = 'countersign:answer';

/** Ours rather than another IPC user's. */
function isOurs(message: unknown): message is Message & { id?: unknown } {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string'
    && (message as Message).type.startsWith('countersign:');
}

export class IpcChannel<OutRequest extends Message, OutNotice extends Message, InRequest extends Message, InNotice extends Message> {
  private readonly opts: IpcChannelOptions<InRequest, InNotice>;
  private readonly requestTypes: ReadonlySet<string>;
  private readonly noticeTypes: ReadonlySet<string>;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  private nextId = 1;
  private handlers: IpcHandlers<InRequest, InNotice> | undefined;
  private readonly unlisten: () => void;

  constructor(opts: IpcChannelOptions<InRequest, InNotice>) {
    this.opts = opts;
    this.requestTypes = new Set(opts.takes.requests);
    this.noticeTypes = new Set(opts.takes.notices);
    this.unlisten = opts.port.onMessage((message) => this.receive(message));
  }

  /** the one guard every send goes through */
  get connected(): boolean { return this.opts.port.isConnected(); }

  /** Sends a notice; false (and nothing sent) when the peer is gone. */
  notify(notice: OutNotice): boolean {
    return this.send(notice);
  }

  /** Sends a request; resolves with its answer, rejects on an error answer, a timeout, or a peer that is gone. */
  request<R extends OutRequest>(request: R, timeoutMs = this.opts.timeoutMs): Promise<AnswerTo<R>> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`no answer within ${timeoutMs} ms`)); }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => { clearTimeout(timer); resolve(value as AnswerTo<R>); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      });
      if (!this.send({ ...request, id })) this.settle(id, { error: 'not connected' });
    });
  }

  /** From now on, incoming requests and notices go to `handlers` (replacing earlier ones). */
  serve(handlers: IpcHandlers<InRequest, InNotice>): void {
    this.handlers = handlers;
  }

  /** Stops listening; requests still waiting are rejected. */
  close(): void {
    this.unlisten();
    for (const id of [...this.pending.keys()]) this.settle(id, { error: 'channel closed' });
  }

  private send(message: object): boolean {
    if (!this.connected) return false;
    try {
      this.opts.port.send(message);
      return true;
    } catch {
      return false; // the channel closed between the check and the send
    }
  }

  private settle(id: number, answer: { result?: unknown; error?: string }): void {
    const waiter = this.pending.get(id);
    this.pending.delete(id);
    if (answer.error !== undefined) waiter?.reject(new Error(answer.error));
    else waiter?.resolve(answer.result);
  }

  private receive(message: unknown): void {
    if (!isOurs(message)) return; // node:cluster's own, or another library's
    const id = typeof message.id === 'number' ? message.id : undefined;
    if (message.type === ANSWER && id !== undefined) {
      this.settle(id, message as AnswerMessage);
      return;
    }
    if (this.requestTypes.has(message.type) && id !== undefined) {
      this.answerRequest(id, message as InRequest);
      return;
    }
    if (this.noticeTypes.has(message.type)) {
      this.handleNotice(message as InNotice);
      return;
    }
    this.refuse(message.type, id, 'unknown message type');
  }

  private answerRequest(id: number, request: InRequest): void {
    const handlers = this.handlers;
    if (!handlers) {
      this.refuse(request.type, id, 'not serving yet');
      return;
    }
    let answer: Promise<unknown>;
    try {
      answer = handlers.request(request);
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (result) => { this.send({ type: ANSWER, id, result } satisfies AnswerMessage); },
      (err: unknown) => { this.send({ type: ANSWER, id, error: err instanceof Error ? err.message : String(err) } satisfies AnswerMessage); },
    );
  }

  private handleNotice(notice: InNotice): void {
    if (!this.handlers) {
      this.refuse(notice.type, undefined, 'not serving yet');
      return;
    }
    try {
      this.handlers.notice(notice);
    } catch (err) {
      this.opts.logger.error({ ...this.opts.peer(), type: notice.type, reason: (err as Error).message }, 'IPC notice handler failed');
    }
  }

  /** Logs a message this side does not take, and answers it with an error when it asked for an answer. */
  private refuse(type: string, id: number | undefined, why: string): void {
    this.opts.logger.warn({ ...this.opts.peer(), type, reason: why }, 'IPC message refused');
    if (id !== undefined && type !== ANSWER) this.send({ type: ANSWER, id, error: `${type}: ${why}` } satisfies AnswerMessage);
  }
}

/** The default of a handler's exhaustive switch on the message type (`never` at compile time: a type left out does not build). */
export function unexpectedMessage(type: never): Error {
  return new Error(`unexpected message ${String(type)}`);
}
