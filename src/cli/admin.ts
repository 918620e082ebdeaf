/**
 * The admin listener of a single-process proxy: its endpoints answer from the
 * running proxy itself. (With worker processes the primary runs it and asks
 * the workers: workers/primary.ts.)
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../observe/index.js';
import { startAdminServer, type RunningAdminServer } from '../observe/index.js';
import { METRICS_CONTENT_TYPE } from '../observe/index.js';
import type { RunningProxy } from '../proxy.js';
import type { ReloadOutcome } from '../observe/index.js';

/** `reload` answers POST /reload: the whole config from its file (config-reload.ts) */
export async function startLocalAdmin(config: Config, proxy: RunningProxy, logger: Logger, reload: () => Promise<ReloadOutcome> = () => proxy.reload()): Promise<RunningAdminServer | undefined> {
  if (!config.admin) return undefined;
  return startAdminServer({
    listen: config.admin.listen,
    hosts: config.admin.hosts,
    logger,
    handlers: {
      ready: async () => proxy.ready(),
      metrics: async () => ({ contentType: METRICS_CONTENT_TYPE, text: proxy.metrics ? await proxy.metrics.text() : '' }),
      status: async () => proxy.status(),
      reload,
    },
  });
}
