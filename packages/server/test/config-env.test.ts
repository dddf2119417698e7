/** Configuration from environment variables: strict values, and errors that name the variable. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { tempDir, configError } from './helpers.js';


const allowPrivate = (env: NodeJS.ProcessEnv, cwd = tempDir()): boolean => loadConfig(env, cwd).webhooks.allowPrivateCallbacks;

test('TASKGATE_ALLOW_PRIVATE_CALLBACKS accepts exactly 1/true (on) and 0/false (off), any case; yes is an error naming it', () => {
  const err = configError(() => loadConfig({ TASKGATE_ALLOW_PRIVATE_CALLBACKS: 'yes' }, tempDir()));
  assert.equal(err.source, 'environment');
  assert.deepEqual(err.problems, ['TASKGATE_ALLOW_PRIVATE_CALLBACKS=yes: must be 1, true, 0 or false']);
  for (const bad of ['on', '2', 'y']) assert.throws(() => allowPrivate({ TASKGATE_ALLOW_PRIVATE_CALLBACKS: bad }), /TASKGATE_ALLOW_PRIVATE_CALLBACKS=/);
  for (const on of ['1', 'true', 'TRUE']) assert.equal(allowPrivate({ TASKGATE_ALLOW_PRIVATE_CALLBACKS: on }), true, on);
  const dir = tempDir();
  writeFileSync(join(dir, 'taskgate.config.json'), JSON.stringify({ webhooks: { allowPrivateCallbacks: true, timeoutMs: 2000 } }));
  for (const off of ['0', 'false', 'False']) assert.equal(allowPrivate({ TASKGATE_ALLOW_PRIVATE_CALLBACKS: off }, dir), false, off);
  assert.equal(allowPrivate({ TASKGATE_ALLOW_PRIVATE_CALLBACKS: '' }, dir), true, 'empty = unset: the file’s value');
  assert.equal(loadConfig({ TASKGATE_ALLOW_PRIVATE_CALLBACKS: '0' }, dir).webhooks.timeoutMs, 2000, 'the file’s other webhook fields stay');
});

test('PORT=abc is an error naming PORT, not the built-in defaults', () => {
  const err = configError(() => loadConfig({ PORT: 'abc' }, tempDir()));
  assert.equal(err.source, 'environment');
  assert.deepEqual(err.problems, ['PORT=abc: must be an integer 0–65535']);
  assert.doesNotMatch(err.message, /built-in defaults/);
  assert.throws(() => loadConfig({ PORT: '70000' }, tempDir()), /PORT=70000: must be an integer 0–65535/);
  assert.throws(() => loadConfig({ PORT: '-1' }, tempDir()), /PORT=-1: /);
  assert.equal(loadConfig({ PORT: '0' }, tempDir()).port, 0);
});

test('every bad environment value is reported by its variable, all at once, even with a config file', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'taskgate.config.json'), JSON.stringify({ port: 9000 }));
  const err = configError(() =>
    loadConfig({
      PORT: '80x', TASKGATE_LOG_LEVEL: 'loud', TASKGATE_PUBLIC_URL: 'not a url', TASKGATE_WEBHOOK_RETRY_SCHEDULE: '0,,5', TASKGATE_ALLOW_PRIVATE_CALLBACKS: 'maybe',
    }, dir),
  );
  assert.equal(err.source, 'environment');
  const vars = err.problems.map((p) => p.slice(0, p.indexOf('=')));
  assert.deepEqual(vars, ['PORT', 'TASKGATE_PUBLIC_URL', 'TASKGATE_LOG_LEVEL', 'TASKGATE_WEBHOOK_RETRY_SCHEDULE', 'TASKGATE_ALLOW_PRIVATE_CALLBACKS'], err.message);
  assert.match(err.message, /TASKGATE_WEBHOOK_RETRY_SCHEDULE=0,,5: entry 2 \(""\) is not a number/);
  assert.throws(() => loadConfig({ TASKGATE_WEBHOOK_RETRY_SCHEDULE: '0,999999999' }, tempDir()), /TASKGATE_WEBHOOK_RETRY_SCHEDULE=0,999999999: entry 2: /);
  const good = loadConfig({ TASKGATE_WEBHOOK_RETRY_SCHEDULE: ' 0, 1.5 ,60', TASKGATE_LOG_LEVEL: 'warn', HOST: '0.0.0.0' }, tempDir());
  assert.deepEqual([good.webhooks.retrySchedule, good.logLevel, good.host], [[0, 1.5, 60], 'warn', '0.0.0.0']);
});

test('a URL in an environment error is printed without its credentials', () => {
  const err = configError(() => loadConfig({ TASKGATE_PUBLIC_URL: 'ftp://bob:hunter2-planted@example.com/?sig=planted-sig' }, tempDir()));
  assert.match(err.message, /TASKGATE_PUBLIC_URL=ftp:\/\/\[redacted\]@example\.com\/\?sig=\[redacted\]: must be an http\(s\) URL/);
  assert.doesNotMatch(err.message, /hunter2|planted-sig/);
});

test('TASKGATE_DATABASE_URL, TASKGATE_REDIS_URL and TASKGATE_FILES_DIR: checked, relative files dirs resolved, credentials never printed', async () => {
  const dir = tempDir();
  const env = { TASKGATE_DATABASE_URL: 'postgres://app:pg-secret-pw@db.internal:5432/taskgate', TASKGATE_REDIS_URL: 'redis://:redis-secret-pw@cache:6379', TASKGATE_FILES_DIR: 'shared/files' };
  const config = loadConfig(env, dir);
  assert.deepEqual([config.databaseUrl, config.redisUrl, config.filesDir], [env.TASKGATE_DATABASE_URL, env.TASKGATE_REDIS_URL, join(dir, 'shared/files')]);
  const { redactSecrets } = await import('../src/config/redact.js');
  const printed = JSON.stringify(redactSecrets(config));
  assert.ok(!printed.includes('pg-secret-pw') && !printed.includes('redis-secret-pw'), printed);
  assert.match(printed, /db\.internal:5432\/taskgate/, 'the host stays, so the operator sees where');
  const err = configError(() => loadConfig({ TASKGATE_DATABASE_URL: 'mysql://root:my-secret@db/x', TASKGATE_REDIS_URL: 'http://cache' }, dir));
  assert.match(err.message, /TASKGATE_DATABASE_URL=.*must be a postgres:\/\/ or postgresql:\/\/ URL/);
  assert.match(err.message, /TASKGATE_REDIS_URL=.*must be a redis:\/\/ or rediss:\/\/ URL/);
  assert.ok(!err.message.includes('my-secret'), err.message);
});
