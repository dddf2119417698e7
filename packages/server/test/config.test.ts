/** Configuration: built-in defaults serve the seeds' services; bad config fails fast and clearly. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../src/config/load.js';
import { tempDir } from './helpers.js';
import { CLI, SERVER_ROOT } from './process.js';

test('defaults: 127.0.0.1:8787, 1 MiB bodies, the seeds’ services', () => {
  const cfg = loadConfig({}, tempDir());
  assert.equal(cfg.host, '127.0.0.1');
  assert.equal(cfg.port, 8787);
  assert.equal(cfg.bodyLimit, 1024 * 1024);
  assert.deepEqual(Object.keys(cfg.services).sort(), ['demo/image', 'flux/dev', 'midjourney/imagine', 'producer/audios', 'suno/audios', 'veo/videos']);
  assert.deepEqual(cfg.services['flux/dev']?.aliases, { apixo: ['flux-dev'], queue: ['fal-ai/flux/dev'], replicate: ['black-forest-labs/flux-dev'] });
  assert.equal(cfg.services['midjourney/imagine']?.mode, 'wait');
  assert.equal(cfg.services['veo/videos']?.mode, 'async');
});

test('a config file (TASKGATE_CONFIG or ./taskgate.config.json) merges over the defaults; env overrides', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'taskgate.config.json'), JSON.stringify({ port: 9000, services: { 'flux/dev': { provider: 'demo-image' } } }));
  const fromCwd = loadConfig({}, dir);
  assert.equal(fromCwd.port, 9000);
  assert.ok(fromCwd.services['flux/dev'] && fromCwd.services['midjourney/imagine']);
  writeFileSync(join(dir, 'other.json'), JSON.stringify({ bodyLimit: 4096 }));
  const explicit = loadConfig({ TASKGATE_CONFIG: 'other.json', PORT: '1234', HOST: '0.0.0.0' }, dir);
  assert.deepEqual([explicit.bodyLimit, explicit.port, explicit.host], [4096, 1234, '0.0.0.0']);
});

test('invalid config lists every problem with its path', () => {
  const err = (() => {
    try {
      parseConfig({
        port: 70000,
        colour: 'blue',
        dispatch: { leaseMs: 'long' },
        services: {
          'bad name': { provider: 'demo-image' },
          'x/unknown': { provider: 'nope' },
          'x/opts': { provider: 'demo-image', options: { latencyMs: -5 } },
        },
      });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof ConfigError);
  for (const needle of ['port', 'colour', 'dispatch.leaseMs', 'bad name']) assert.ok(err.message.includes(needle), `${needle} in:\n${err.message}`);
  const providerErr = (() => {
    try {
      parseConfig({ services: { 'x/unknown': { provider: 'nope' }, 'x/opts': { provider: 'demo-image', options: { latencyMs: -5 } } } });
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  assert.match(providerErr?.message ?? '', /services\.x\/unknown\.provider: unknown provider "nope"/);
  assert.match(providerErr?.message ?? '', /services\.x\/opts\.options\.latencyMs/);
  assert.throws(
    () => parseConfig({ services: { 'a/b': { provider: 'demo-image', aliases: { queue: ['fal-ai/flux/dev'] } } } }),
    /services\.a\/b\.aliases\.queue: "fal-ai\/flux\/dev" is already used by flux\/dev/,
  );
  assert.throws(() => parseConfig({ services: { 'a/b': { provider: 'demo-image', aliases: { replicate: ['no-slash'] } } } }), /owner\/name/);
});

test('`taskgate serve` with a broken config file exits 2 with a clear message', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'broken.json'), '{ "port": ');
  const run = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
    cwd: SERVER_ROOT, env: { ...process.env, TASKGATE_CONFIG: join(dir, 'broken.json'), TASKGATE_DATA: join(dir, 'data') }, encoding: 'utf8', timeout: 20_000,
  });
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /invalid configuration .*broken\.json/);
  assert.match(run.stderr, /not valid JSON/);
  const missing = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
    cwd: SERVER_ROOT, env: { ...process.env, TASKGATE_CONFIG: join(dir, 'absent.json') }, encoding: 'utf8', timeout: 20_000,
  });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /cannot read file/);
});

test('the CLI resolves ./taskgate.config.json and ./data from where npm was run (INIT_CWD)', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'taskgate.config.json'), JSON.stringify({ port: 9123 }));
  const run = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'config'], {
    cwd: SERVER_ROOT, env: { ...process.env, INIT_CWD: dir, PORT: '', TASKGATE_CONFIG: '' }, encoding: 'utf8', timeout: 20_000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal((JSON.parse(run.stdout) as { port: number }).port, 9123);
});
