/** Service settings: sizes, durations, env and flags, and form options. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serveConfig } from '../../src/cli/serve.js';
import { InvalidOptionError } from '../../src/data/preprocess.js';
import { MIB, parseBytes, parseDuration } from '../../src/service/config.js';
import { flag, formOptions, optionsKey } from '../../src/service/formOptions.js';

test('sizes and durations', () => {
  assert.equal(parseBytes('512MiB'), 512 * MIB);
  assert.equal(parseBytes('1GB'), 1e9);
  assert.equal(parseBytes('100k'), 100_000);
  assert.equal(parseBytes('100KiB'), 102_400);
  assert.equal(parseBytes('1048576'), MIB);
  assert.throws(() => parseBytes('lots'), RangeError);
  assert.equal(parseDuration('90'), 90_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.throws(() => parseDuration('soon'), RangeError);
});

test('flags override the environment, which overrides the defaults', () => {
  const env = { ALIAS_AUDIT_MAX_UPLOAD: '1GiB', ALIAS_AUDIT_CONCURRENCY: '3', PORT: '9000', ALIAS_AUDIT_API_KEYS: 'key-aaaaaaaaaaaaaaaa, key-bbbbbbbbbbbbbbbb' };
  const c = serveConfig(['--concurrency', '2', '--data-dir', '/tmp/x'], env);
  assert.equal(c.maxUploadBytes, 1024 * MIB);
  assert.equal(c.concurrency, 2);
  assert.equal(c.port, 9000);
  assert.equal(c.dataDir, '/tmp/x');
  assert.deepEqual(c.apiKeys, ['key-aaaaaaaaaaaaaaaa', 'key-bbbbbbbbbbbbbbbb']);
  assert.equal(serveConfig([], {}).maxUploadBytes, 512 * MIB);
  assert.throws(() => serveConfig(['--concurrency', '0'], {}), /concurrency/);
  assert.throws(() => serveConfig(['--bogus', '1'], {}), /bogus/);
  assert.throws(() => serveConfig(['--api-keys', 'short'], {}), /16 characters/);
});

test('form fields parse as the CLI options; server-only and repeated fields are refused', () => {
  const o = formOptions({ model: '', samples: '25', preprocess: 'none', force: 'true' });
  assert.equal(o.samples, 25);
  assert.equal(o.preprocess, 'none');
  assert.throws(() => formOptions({ cifar10Dir: '/etc' }), InvalidOptionError);
  assert.throws(() => formOptions({ samples: ['1', '2'] }), InvalidOptionError);
  assert.throws(() => formOptions({ mean: '1,2', std: '1,1,1' }), InvalidOptionError);
  assert.equal(optionsKey(formOptions({ samples: '25' })), optionsKey(formOptions({ samples: '25', batch: '50' })), 'defaults spelled out are the same key');
  assert.notEqual(optionsKey(formOptions({ samples: '25' })), optionsKey(formOptions({ samples: '26' })));
  assert.deepEqual([flag('true'), flag('1'), flag(''), flag('false'), flag(undefined), flag(true)], [true, true, true, false, false, true]);
});
