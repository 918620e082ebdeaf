import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';

export const command: Command = {
  name: 'check',
  summary: 'validate a config file and every file it names; print each problem with its path',
  usage: 'countersign check --config FILE',
  async run(args, io) {
    const { values } = parseCommandArgs(args, { config: { type: 'string', short: 'c' } }, this.usage);
    if (!values.config) { io.err(`usage: ${this.usage}`); return 2; }
    const loaded = await loadConfigForCli(values.config, io);
    if (!loaded) return 1;
    const { config, file } = loaded;
    io.out(`${file}: OK (${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, upstreams: ${Object.keys(config.upstreams).join(', ')}, listen ${config.listen})`);
    return 0;
  },
};
