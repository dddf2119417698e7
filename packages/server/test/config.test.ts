/** Configuration: built-in defaults serve the seeds' services; bad config fails fast and clearly. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../src/config/load.js';
import { ADMIN_TOKEN, startGateway, tempDir, configError } from './helpers.js';
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


/** loadConfig over a config file holding `content` (in a fresh temp dir). */
function fromFile(content: unknown): { file: string; load: () => ReturnType<typeof loadConfig> } {
  const file = join(tempDir(), 'taskgate.config.json');
  writeFileSync(file, JSON.stringify(content));
  return { file, load: () => loadConfig({ TASKGATE_CONFIG: file }, SERVER_ROOT) };
}

test('one field of a built-in service overrides just that field: {"demo/image":{"price":3}}', () => {
  const svc = fromFile({ services: { 'demo/image': { price: 3 } } }).load().services['demo/image'];
  assert.equal(svc?.price, 3);
  assert.equal(svc?.provider, 'demo-image');
  assert.equal(svc?.mode, 'wait');
  assert.deepEqual(svc?.options, { latencyMs: 1000 }, 'the built-in options stay');
});

test('midjourney/imagine with provider + price keeps shape midjourney and the APIXO alias', () => {
  const svc = fromFile({ services: { 'midjourney/imagine': { provider: 'demo-image', price: 3 } } }).load().services['midjourney/imagine'];
  assert.equal(svc?.price, 3);
  assert.equal(svc?.shape, 'midjourney');
  assert.deepEqual(svc?.aliases.apixo, ['midjourney']);
  assert.deepEqual(svc?.options, { latencyMs: 3000 }, 'same provider: the built-in options stay');
});

test('a gateway with midjourney/imagine overridden by {provider, price} still answers the APIXO model midjourney', async () => {
  const t = await startGateway({
    config: { dispatch: { enabled: false } },
    services: { 'midjourney/imagine': { provider: 'demo-image', price: 3, options: { latencyMs: 10, steps: 1, defaultWidth: 64, defaultHeight: 64 } } },
  });
  try {
    const topUp = await t.call('POST', `/admin/accounts/${t.ownerId}/topup`, { token: ADMIN_TOKEN, body: { amount: 3, reason: 'test' } });
    assert.equal(topUp.status, 200, topUp.text);
    const r = await t.call('POST', '/api/v1/generateTask/midjourney', { body: { input: { prompt: 'a lighthouse' } } });
    assert.equal(r.status, 200, r.text);
    const task = await t.gw.tasks.get(t.ownerId, r.json.data.taskId);
    assert.equal(task?.service, 'midjourney/imagine');
    assert.deepEqual((await t.call('GET', '/v1/account/balance')).json, { balance: 0, held: 3, used: 0 }, 'the file’s price applies');
  } finally {
    await t.close();
  }
});

test('schema defaults never overwrite a built-in field: veo/videos with only a price stays mode async', () => {
  const cfg = fromFile({ services: { 'veo/videos': { price: 2 } } }).load();
  assert.equal(cfg.services['veo/videos']?.mode, 'async');
  assert.equal(cfg.services['veo/videos']?.shape, 'video');
  assert.equal(cfg.services['veo/videos']?.price, 2);
  assert.equal(parseConfig({ services: { 'veo/videos': { provider: 'demo-video', price: 2 } } }).services['veo/videos']?.mode, 'async');
});

test('options and aliases merge key by key; another provider drops the built-in options; new services need a provider', () => {
  const cfg = parseConfig({
    services: {
      'demo/image': { options: { steps: 2 } },
      'flux/dev': { aliases: { queue: ['acme/flux'] } },
      'veo/videos': { provider: 'demo-image' },
    },
  });
  assert.deepEqual(cfg.services['demo/image']?.options, { latencyMs: 1000, steps: 2 });
  assert.deepEqual(cfg.services['flux/dev']?.aliases, { apixo: ['flux-dev'], queue: ['acme/flux'], replicate: ['black-forest-labs/flux-dev'] });
  assert.deepEqual(cfg.services['veo/videos']?.options, {}, 'demo-video’s latency is not demo-image’s');
  assert.equal(cfg.services['veo/videos']?.shape, 'video');
  assert.deepEqual(parseConfig({ services: { 'flux/dev': { aliases: { apixo: [] } } } }).services['flux/dev']?.aliases.apixo, [], 'an empty list removes an alias');
  const err = configError(() => parseConfig({ services: { 'new/thing': { price: 1 } } }));
  assert.match(err.message, /services\.new\/thing\.provider: required/);
});

test('provider options are strict: an unknown option is an error naming services.<name>.options.<field>', () => {
  const { file, load } = fromFile({ services: { 'demo/image': { options: { apiKey: 'sk-planted-0001' } }, 'x/clip': { provider: 'demo-video', options: { latencyMs: 5, colour: 'red' } } } });
  const err = configError(load);
  assert.equal(err.source, file);
  assert.ok(err.problems.includes('services.demo/image.options.apiKey: unknown field'), err.message);
  assert.ok(err.problems.includes('services.x/clip.options.colour: unknown field'), err.message);
  assert.doesNotMatch(err.message, /sk-planted/);
});

test('an error in the file names the file and the field path (unknown fields too)', () => {
  const { file, load } = fromFile({ dispatch: { leaseMs: 'long', colour: 'blue' }, services: { 'demo/image': { price: -1 } } });
  const err = configError(load);
  assert.equal(err.source, file);
  assert.ok(err.message.startsWith(`invalid configuration (${file}):`), err.message);
  assert.match(err.message, /^ {2}- dispatch\.leaseMs: /m);
  assert.match(err.message, /^ {2}- dispatch\.colour: unknown field$/m);
  assert.match(err.message, /^ {2}- services\.demo\/image\.price: /m);
});
