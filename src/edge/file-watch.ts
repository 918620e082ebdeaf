/**
 * Tells the certificate store that files it loaded may have changed. Two
 * mechanisms, because neither is enough alone:
 * - `fs.watch` on each file's *parent directory*: Kubernetes updates a mounted
 *   Secret by renaming a new `..data` symlink over the old one, and editors save by
 *   writing a temp file and renaming it over the original; a watch on the file
 *   itself keeps pointing at the old inode and never fires again.
 * - a periodic stat poll (inode, size, mtime, following symlinks), for file
 *   systems without inotify (NFS, some container overlays) and for watchers that
 *   died with their directory.
 * Bursts (cert and key written one after the other) are debounced into one call.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { silentLogger, reasonOf, type EdgeLogger } from './logger.js';

/** Default interval of the stat poll. */
export const DEFAULT_POLL_INTERVAL_MS = 2_000;
/** Default quiet time after the last file event before the store re-reads. */
export const DEFAULT_RELOAD_DEBOUNCE_MS = 200;

export interface FileWatchOptions {
  /** the files to watch */
  paths: string[];
  /** called after changes settle; may be called when nothing changed (the caller compares content) */
  onChange: () => void;
  /** stat poll interval in ms; 0 turns the poll off; default 2 000 */
  pollIntervalMs?: number;
  /** quiet time after the last event before `onChange`, in ms; default 200 */
  debounceMs?: number;
  logger?: EdgeLogger;
}

export class FileWatch {
  private readonly paths: string[];
  private readonly dirs: string[];
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly signatures = new Map<string, string>();
  private readonly debounceMs: number;
  private readonly logger: EdgeLogger;
  private debounceTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;

  constructor(private readonly opts: FileWatchOptions) {
    this.paths = [...new Set(opts.paths.map((p) => resolve(p)))];
    this.dirs = [...new Set(this.paths.map((p) => dirname(p)))];
    this.debounceMs = opts.debounceMs ?? DEFAULT_RELOAD_DEBOUNCE_MS;
    this.logger = opts.logger ?? silentLogger;
    for (const dir of this.dirs) this.watchDir(dir);
    const pollMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    if (pollMs > 0) {
      void this.poll(false);
      this.pollTimer = setInterval(() => void this.poll(true), pollMs);
      this.pollTimer.unref();
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private watchDir(dir: string): void {
    if (this.closed || this.watchers.has(dir)) return;
    try {
      const w = watch(dir, { persistent: false }, () => this.schedule());
      w.on('error', (err) => {
        // The directory went away or the watch limit was hit; the poll keeps working
        // and re-creates the watcher once the directory is back.
        this.logger.warn({ dir, ...reasonOf(err) }, 'file watch failed; relying on the poll');
        w.close();
        this.watchers.delete(dir);
      });
      this.watchers.set(dir, w);
    } catch (err) {
      this.logger.warn({ dir, ...reasonOf(err) }, 'cannot watch directory; relying on the poll');
    }
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => { if (!this.closed) this.opts.onChange(); }, this.debounceMs);
    this.debounceTimer.unref();
  }

  private async poll(notify: boolean): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      let changed = false;
      for (const p of this.paths) {
        const sig = await signature(p);
        if (this.signatures.get(p) !== sig) {
          if (this.signatures.has(p)) changed = true;
          this.signatures.set(p, sig);
        }
      }
      for (const dir of this.dirs) this.watchDir(dir);
      if (changed && notify) this.schedule();
    } finally {
      this.polling = false;
    }
  }
}

async function signature(path: string): Promise<string> {
  try {
    const s = await stat(path); // follows symlinks: a swapped `..data` shows as a new inode
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}
