/**
 * Before the primary has its workers apply a reload: can the listeners it
 * adds be bound? With node:cluster the primary binds every worker's listening
 * sockets, so an address in use would fail in every worker at once, and a
 * worker replaced after that failure would start with the same config and
 * fail again. Asked here first, the reload is refused instead.
 */
import { createServer } from 'node:net';
import { hostPortOf, listenersOf, type Config } from '../../config/index.js';

/** One problem per listener of `next` on an address `running` does not listen on that cannot be bound now. */
export async function newListenersThatCannotBind(running: Config, next: Config): Promise<string[]> {
  const have = new Set(listenersOf(running).map((l) => l.listen));
  const added = listenersOf(next).filter((l) => !have.has(l.listen) && hostPortOf(l.listen).port !== 0);
  const problems = await Promise.all(added.map(async (l) => {
    const { host, port } = hostPortOf(l.listen);
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen({ host, port, exclusive: true }, resolve); });
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return `listeners.${l.name}: cannot listen on ${l.listen} (${code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : (err as Error).message})`;
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  }));
  return problems.filter((p): p is string => p !== undefined);
}
