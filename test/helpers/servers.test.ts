/** The private test servers: they answer on their URL, keep their data across a restart (a crash too), and leave nothing behind. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { startPostgres, startRedis } from './servers.js';

function psql(url: string, sql: string): string {
  const r = spawnSync('psql', [url, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function redisCli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('startPostgres: a private cluster on 127.0.0.1 that keeps committed rows across a restart and a crash', async () => {
  const pg = await startPostgres();
  try {
    assert.match(pg.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    psql(pg.url, 'CREATE TABLE t (x int); INSERT INTO t VALUES (42)');
    await pg.restart();
    assert.equal(psql(pg.url, 'SELECT x FROM t'), '42');
    psql(pg.url, 'INSERT INTO t VALUES (43)');
    await pg.restart({ crash: true });
    assert.equal(psql(pg.url, 'SELECT string_agg(x::text, \',\' ORDER BY x) FROM t'), '42,43');
  } finally {
    await pg.stop();
  }
  assert.equal(existsSync(pg.dir), false, 'its folder is gone');
  assert.notEqual(spawnSync('psql', [pg.url, '-X', '-c', 'SELECT 1'], { encoding: 'utf8' }).status, 0, 'nothing answers after stop');
});

test('startRedis: with appendfsync always, a write acknowledged before a crash is there after the restart; without AOF it is not', async () => {
  const durable = await startRedis({ appendOnly: true, appendFsync: 'always' });
  const volatile = await startRedis();
  try {
    assert.notEqual(durable.port, volatile.port);
    for (const r of [durable, volatile]) {
      assert.equal(redisCli(r.port, 'SET', 'k', 'v'), 'OK');
      await r.restart({ crash: true });
    }
    assert.equal(redisCli(durable.port, 'GET', 'k'), 'v');
    assert.equal(redisCli(volatile.port, 'GET', 'k'), '');
  } finally {
    await Promise.all([durable.stop(), volatile.stop()]);
  }
  assert.equal(existsSync(durable.dir), false, 'its folder is gone');
});
