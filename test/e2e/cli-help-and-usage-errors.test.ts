/**
 * The CLI's habits, as a user meets them: `countersign <command> --help` and
 * `countersign help <command>` print that command's usage and exit 0; a bad
 * option value is one line naming the allowed values (exit 2, never a stack
 * trace); a mistyped command or option gets the closest valid name.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/proxy-process.js';

const COMMANDS = ['start', 'check', 'demo', 'certs init', 'certs status', 'identity of', 'inspect', 'mint'];

describe('countersign help and usage errors', { concurrency: true }, () => {
  for (const name of COMMANDS) {
    test(`${name}: --help, -h and help ${name} print its usage and exit 0`, async () => {
      const words = name.split(' ');
      const outputs = await Promise.all([[...words, '--help'], [...words, '-h'], ['help', ...words]].map((args) => runCli(args)));
      for (const r of outputs) {
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^usage: countersign ${name}`, 'm'));
        assert.equal(r.stderr, '');
      }
      assert.equal(outputs[0].stdout, outputs[2].stdout, 'the same text either way');
    });
  }

  test('--help wins over other arguments, even broken ones', async () => {
    const r = await runCli(['start', '--no-such-option', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: countersign start/);
  });

  test('a bad --log-level is one line naming the allowed values, exit 2', async () => {
    for (const cmd of ['start', 'demo']) {
      const r = await runCli([cmd, '--log-level', 'verbose', 'x.yaml']);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, `countersign ${cmd}: --log-level "verbose" is not one of trace, debug, info, warn, error, fatal, silent\n`);
    }
    const close = await runCli(['start', '--log-level', 'wran', 'x.yaml']);
    assert.match(close.stderr, /is not one of .*; did you mean "warn"\?\n$/);
  });

  test('an unknown option names the closest one; a missing value says so; never a stack trace', async () => {
    const typo = await runCli(['start', '--confg', 'x.yaml']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /^countersign start: unknown option --confg; did you mean --config\? \(usage: countersign start /);
    const missing = await runCli(['start', '--config']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^countersign start: option --config needs a value/);
    for (const r of [typo, missing]) assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('an unknown command names the closest one, exit 2', async () => {
    const r = await runCli(['strat']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^unknown command "strat"; did you mean "start"\?/);
    const two = await runCli(['certs', 'stauts']);
    assert.match(two.stderr, /did you mean "certs status"\?/);
    const far = await runCli(['frobnicate']);
    assert.equal(far.code, 2);
    assert.doesNotMatch(far.stderr, /did you mean/);
    const helpTypo = await runCli(['help', 'chekc']);
    assert.equal(helpTypo.code, 2);
    assert.match(helpTypo.stderr, /did you mean "check"\?/);
  });

  test('help alone exits 0; no arguments prints the help and exits 2', async () => {
    const help = await runCli(['help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit status: 0 success, 1 failure .*, 2 usage error/);
    const none = await runCli([]);
    assert.equal(none.code, 2);
    assert.match(none.stdout, /usage: countersign <command>/);
  });
});
