/**
 * The CLI's help, as a user reads it: every command has --help (exit 0) with its options, their
 * defaults from the same constants the audit and the service use, and an example.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { robustnessPlan } from '../../src/attacks/presets.js';
import { DEFAULT_AUDIT_OPTIONS } from '../../src/audit/options.js';
import { TOOL_VERSION } from '../../src/audit/version.js';
import { DEFAULT_EARLY_STOP } from '../../src/metrics/earlyStopping.js';
import { CONFIG_KEYS, configEnvName, defaultConfig } from '../../src/service/config.js';
import { cliLines, helpOptions, runCli } from './cli.js';

const COMMANDS = ['audit', 'compare', 'early-stop', 'data', 'serve'];

describe('alias-audit --help', () => {
  for (const command of COMMANDS) {
    it(`${command} --help exits 0 with usage, options and an example`, async () => {
      const r = await runCli([command, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: alias-audit ${command} `, 'm'));
      assert.match(r.stdout, /-h, --help/);
      assert.match(r.stdout, /^Examples:$/m);
      assert.match(r.stdout, new RegExp(`^  \\$ (\\S+=\\S+ )?alias-audit ${command}\\b`, 'm'), 'an example of this command');
    });
  }

  it('help COMMAND shows the same help as COMMAND --help', async () => {
    const [viaHelp, viaFlag] = await Promise.all([runCli(['help', 'audit']), runCli(['audit', '--help'])]);
    assert.equal(viaHelp.code, 0, viaHelp.stderr);
    assert.equal(viaHelp.stdout, viaFlag.stdout);
  });

  it('the top-level help lists every command and exits 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const command of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${command}\\b`, 'm'), command);
    assert.match(r.stdout, /^Examples:$/m);
  });

  it('no command prints the help on stderr and exits 2', async () => {
    const r = await runCli([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Usage: alias-audit /m);
  });

  it('--version and -V print the version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), TOOL_VERSION);
    }
  });

  it("audit's help names the audit's own defaults", async () => {
    const options = helpOptions((await runCli(['audit', '--help'])).stdout);
    const d = DEFAULT_AUDIT_OPTIONS;
    for (const [flag, value] of [['--samples', d.samples], ['--batch', d.batch], ['--preprocess', d.preprocess], ['--scale', d.scale], ['--layout', d.layout], ['--ep', d.ep], ['--robustness', d.robustness]] as const) {
      assert.match(options.get(flag) ?? '', new RegExp(`\\(default: ${value}\\)$`), flag);
    }
    const fast = robustnessPlan('fast', {}, Number.MAX_SAFE_INTEGER);
    const standard = robustnessPlan('standard', {}, Number.MAX_SAFE_INTEGER);
    assert.match(options.get('--eps') ?? '', new RegExp(`\\(default: ${fast.epsText}\\)$`));
    assert.match(options.get('--pgd-steps') ?? '', new RegExp(`\\(default: fast ${fast.pgd.steps}, standard ${standard.pgd.steps}\\)$`));
    // Every option of README's table is there.
    for (const flag of ['--mean', '--std', '--max-am-rel', '--cifar10-dir', '--seed', '--attack-samples', '--attacks', '--pgd-restarts', '--pgd-step-size', '--square-queries', '--min-robust-accuracy', '--out', '--html', '--quiet']) {
      assert.ok(options.has(flag), flag);
    }
  });

  it("early-stop's help names its own defaults", async () => {
    const options = helpOptions((await runCli(['early-stop', '--help'])).stdout);
    assert.match(options.get('--samples') ?? '', /\(default: 500\)$/);
    assert.match(options.get('--signal') ?? '', new RegExp(`\\(default: ${DEFAULT_EARLY_STOP.signal}\\)$`));
    assert.match(options.get('--threshold') ?? '', new RegExp(`\\(default: ${DEFAULT_EARLY_STOP.threshold}\\)$`));
    assert.ok(options.has('--json'));
  });

  it("serve's help has every setting, its variable and the service's default", async () => {
    const options = helpOptions((await runCli(['serve', '--help'])).stdout);
    for (const key of CONFIG_KEYS) {
      assert.match(options.get(`--${key}`) ?? '', new RegExp(`\\(default: [^;]+; env ${configEnvName(key)}\\b`), key);
    }
    assert.match(options.get('--port') ?? '', new RegExp(`\\(default: ${defaultConfig().port};`));
    assert.equal(options.size, CONFIG_KEYS.length + 1, 'the settings and --help, nothing else');
  });

  it('help of an unknown command exits 2', async () => {
    const r = await runCli(['help', 'nonsense']);
    assert.equal(r.code, 2);
    assert.equal(cliLines(r.stderr).filter((l) => /internal error/.test(l)).length, 0);
  });
});
