/** Loopback ports: a free one, and waiting until something listens (shared with the tests: test/helpers/net.ts). */
export { freePort, waitForPort } from '../../test/helpers/net.js';
export { sleep } from '../../test/helpers/wait.js';
