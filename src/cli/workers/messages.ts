/**
 * What the primary and its worker processes say to each other over the cluster
 * IPC channel. Workers act on these, not on signals: a terminal's Ctrl-C reaches
 * the whole process group, and only the primary decides what a signal means.
 *
 * Each side sends requests (answered once, by id, through ipc-channel.ts) and
 * notices (not answered). Every type is listed below and in the `*_TYPES`
 * lists a receiver checks against: anything else is refused and logged.
 */
import type { ChallengeChange, SharedAcmeCertificate } from '../../edge/acme/index.js';
import type { AuditEvent, MetricsJson, ReloadOutcome } from '../../observe/index.js';
import type { ProxyStatus } from '../../proxy.js';

/** What the primary asks a worker (answered with `AnswerTo<…>`). */
export type PrimaryRequest =
  /** apply this config (validated by the primary) */
  | { type: 'countersign:apply'; config: ConfigText }
  /** the primary's ACME manager: new certificates, or a challenge to answer before the CA validates */
  | { type: 'countersign:acme'; certificates?: SharedAcmeCertificate[]; challenge?: ChallengeChange }
  /** the admin listener (in the primary) asks each worker */
  | { type: 'countersign:query'; what: WorkerQuery };

/** What the primary tells a worker. */
export type PrimaryNotice =
  | { type: 'countersign:stop' }
  /** SIGUSR1 reached the primary: reopen log and audit files */
  | { type: 'countersign:reopen' };

/** What a worker asks the primary. */
export type WorkerRequest =
  /** sent first (a message that arrived before the worker listened for it would be lost); answered with its InitPayload */
  { type: 'countersign:hello' };

/** What a worker tells the primary. */
export type WorkerNotice =
  | { type: 'countersign:ready'; listen: string; /** every listener's address, by name */ listeners?: Record<string, string> }
  /** one audit record: the primary writes the one chain */
  | { type: 'countersign:audit'; event: AuditEvent };

export const PRIMARY_REQUEST_TYPES = ['countersign:apply', 'countersign:acme', 'countersign:query'] as const satisfies readonly PrimaryRequest['type'][];
export const PRIMARY_NOTICE_TYPES = ['countersign:stop', 'countersign:reopen'] as const satisfies readonly PrimaryNotice['type'][];
export const WORKER_REQUEST_TYPES = ['countersign:hello'] as const satisfies readonly WorkerRequest['type'][];
export const WORKER_NOTICE_TYPES = ['countersign:ready', 'countersign:audit'] as const satisfies readonly WorkerNotice['type'][];

/** What a worker starts with: the fleet's ticket keys, the ACME state, and the config its siblings serve. */
export interface InitPayload {
  ticketKeys: string /* base64, 48 bytes */;
  acme?: AcmeSnapshot;
  config?: ConfigText;
}

/** A config as the primary validated it: the text itself, so a worker never reads a file that changed since. */
export interface ConfigText { text: string; file: string; digest: string; loadedAt: string }

/** What a worker that starts needs of the primary's ACME state. */
export interface AcmeSnapshot { certificates: SharedAcmeCertificate[]; challenges: ChallengeChange[] }

export type WorkerQuery = 'ready' | 'status' | 'metrics';

/** What each query is answered with. */
export interface QueryAnswers {
  ready: { ready: boolean; reasons: string[] };
  status: ProxyStatus;
  metrics: MetricsJson;
}

/** The answer to a request, by its type. */
export type AnswerTo<R> =
  R extends { type: 'countersign:apply' } ? ReloadOutcome
    : R extends { type: 'countersign:acme' } ? true
      : R extends { type: 'countersign:query'; what: infer W extends WorkerQuery } ? QueryAnswers[W]
        : R extends { type: 'countersign:hello' } ? InitPayload
          : never;

/** Env var naming a worker's slot (1..N), so its log lines say which it is. */
export const WORKER_SLOT_ENV = 'COUNTERSIGN_WORKER';
