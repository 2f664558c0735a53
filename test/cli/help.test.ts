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
import { configFromFlags, keysOf } from '../../src/cli/serve.js';
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
    assert.match(options.get('--norm') ?? '', /\(default: linf\)$/);
    assert.match(options.get('--pgd-steps') ?? '', new RegExp(`\\(default: fast ${fast.pgd.steps}, standard ${standard.pgd.steps}\\)$`));
    // Every option of README's table is there.
    for (const flag of ['--mean', '--std', '--max-am-rel', '--cifar10-dir', '--seed', '--attack-samples', '--attacks', '--apgd-iterations', '--apgd-targets', '--fab-iterations', '--fab-targets', '--pgd-restarts', '--pgd-step-size', '--square-queries', '--min-robust-accuracy', '--out', '--html', '--quiet']) {
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
    const serveKeys = keysOf('serve');
    for (const key of serveKeys) {
      assert.match(options.get(`--${key}`) ?? '', new RegExp(`\\(default: [^;]+; env ${configEnvName(key)}\\b`), key);
    }
    assert.match(options.get('--port') ?? '', new RegExp(`\\(default: ${defaultConfig().port};`));
    assert.match(options.get('--redis') ?? '', /env ALIAS_AUDIT_REDIS_URL\b/);
    assert.match(options.get('--database') ?? '', /env ALIAS_AUDIT_DATABASE_URL\b/);
    assert.equal(options.size, serveKeys.length + 1, 'the settings and --help, nothing else');
    // Every setting is some command's flag.
    assert.deepEqual(CONFIG_KEYS.filter((k) => !serveKeys.includes(k) && !keysOf('worker').includes(k)), []);
  });

  it("worker's help has the settings of running audits and reaching the queue, and no HTTP ones", async () => {
    const options = helpOptions((await runCli(['worker', '--help'])).stdout);
    for (const key of ['redis', 'database', 'concurrency', 'audit-timeout', 'worker-memory', 'lock-duration', 'fetch-data'] as const) {
      assert.match(options.get(`--${key}`) ?? '', new RegExp(`\\(default: [^;]+; env ${configEnvName(key)}\\b`), key);
    }
    for (const httpOnly of ['--port', '--host', '--api-keys', '--max-upload']) assert.ok(!options.has(httpOnly), httpOnly);
    assert.equal(options.size, keysOf('worker').length + 1);
  });

  it('a worker without --redis and --database exits 2 and says what it needs', async () => {
    const r = await runCli(['worker', '--concurrency', '1'], { ...process.env, ALIAS_AUDIT_REDIS_URL: '', ALIAS_AUDIT_DATABASE_URL: '' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /needs --redis and --database/);
  });

  it('serve with only one of --redis and --database exits 2 naming the missing one', async () => {
    const r = await runCli(['serve', '--redis', 'redis://127.0.0.1:1', '--port', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /needs both --redis and --database \(only --redis is set\)/);
  });

  it('the Redis and database URLs come from variables, flags, or one of each', () => {
    const redis = 'redis://127.0.0.1:6379';
    const database = 'postgres://aa@127.0.0.1:5432/aa';
    const env = { ALIAS_AUDIT_REDIS_URL: redis, ALIAS_AUDIT_DATABASE_URL: database };
    for (const role of ['serve', 'worker'] as const) {
      for (const [values, vars] of [
        [{}, env],
        [{ redis }, { ALIAS_AUDIT_DATABASE_URL: database }],
        [{ redis, database }, {}],
      ] as const) {
        const config = configFromFlags(values, vars, role);
        assert.deepEqual([config.redisUrl, config.databaseUrl], [redis, database], `${role} ${JSON.stringify(values)} ${JSON.stringify(vars)}`);
      }
      assert.throws(() => configFromFlags({}, { ALIAS_AUDIT_REDIS_URL: redis }, role), /only --redis is set/);
    }
  });

  it('help of an unknown command exits 2', async () => {
    const r = await runCli(['help', 'nonsense']);
    assert.equal(r.code, 2);
    assert.equal(cliLines(r.stderr).filter((l) => /internal error/.test(l)).length, 0);
  });
});
