/**
 * What the primary and its worker processes say to each other over the cluster
 * IPC channel. Workers act on these, not on signals: a terminal's Ctrl-C reaches
 * the whole process group, and only the primary decides what a signal means.
 */
import type { ChallengeChange, SharedAcmeCertificate } from '../../edge/acme/index.js';
import type { AuditEvent } from '../../observe/index.js';

export type PrimaryMessage =
  | { type: 'countersign:init'; ticketKeys: string /* base64, 48 bytes */; acme?: AcmeSnapshot; config?: ConfigText }
  /** apply this config (validated by the primary); answered with `countersign:answer` (a ReloadOutcome) */
  | { type: 'countersign:apply'; id: number; config: ConfigText }
  /** the primary's ACME manager: new certificates, or a challenge to answer (acknowledged with `countersign:answer`) */
  | { type: 'countersign:acme'; id: number; certificates?: SharedAcmeCertificate[]; challenge?: ChallengeChange }
  | { type: 'countersign:stop' }
  /** SIGUSR1 reached the primary: reopen log and audit files */
  | { type: 'countersign:reopen' }
  /** the admin listener (in the primary) asks each worker; answered with `countersign:answer` */
  | { type: 'countersign:query'; id: number; what: WorkerQuery };

/** A config as the primary validated it: the text itself, so a worker never reads a file that changed since. */
export interface ConfigText { text: string; file: string; digest: string; loadedAt: string }

/** What a worker that starts needs of the primary's ACME state. */
export interface AcmeSnapshot { certificates: SharedAcmeCertificate[]; challenges: ChallengeChange[] }

export type WorkerQuery = 'ready' | 'status' | 'metrics';

export type WorkerMessage =
  /** sent first: a message that arrived before the worker listened for it would be lost */
  | { type: 'countersign:hello' }
  | { type: 'countersign:ready'; listen: string; /** every listener's address, by name */ listeners?: Record<string, string> }
  | { type: 'countersign:answer'; id: number; result?: unknown; error?: string }
  /** one audit record: the primary writes the one chain */
  | { type: 'countersign:audit'; event: AuditEvent };

/** Env var naming a worker's slot (1..N), so its log lines say which it is. */
export const WORKER_SLOT_ENV = 'COUNTERSIGN_WORKER';

/** Ours rather than another IPC user's; each side only ever receives the other's kind. */
const isOurs = (m: unknown): boolean =>
  typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('countersign:');

export const isPrimaryMessage = (m: unknown): m is PrimaryMessage => isOurs(m);
export const isWorkerMessage = (m: unknown): m is WorkerMessage => isOurs(m);
