import { loadConfig, ConfigError } from '../../config/index.js';
import { isCountersignError } from '../../errors.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';

export const command: Command = {
  name: 'check',
  summary: 'validate a config file and every file it names; print each problem with its path',
  usage: 'countersign check --config FILE',
  async run(args, io) {
    const { values } = parseCommandArgs(args, { config: { type: 'string', short: 'c' } }, this.usage);
    if (!values.config) { io.err(`usage: ${this.usage}`); return 2; }
    try {
      const { config, file } = await loadConfig(values.config);
      io.out(`${file}: OK (${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, upstreams: ${Object.keys(config.upstreams).join(', ')}, listen ${config.listen})`);
      return 0;
    } catch (err) {
      if (err instanceof ConfigError) {
        io.err(`${err.file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}`);
        for (const p of err.problems) io.err(`  ${p}`);
        return 1;
      }
      if (isCountersignError(err)) { io.err(err.message); return 1; }
      throw err;
    }
  },
};
