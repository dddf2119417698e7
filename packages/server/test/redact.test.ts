/** Redaction: `taskgate config` never prints a secret-looking field or a URL's credentials. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REDACTED, redactSecrets, redactUrl } from '../src/config/redact.js';
import { tempDir } from './helpers.js';
import { CLI, SERVER_ROOT } from './process.js';

/** Every planted secret carries this marker, so one search finds any leak. */
const MARK = 'planted';

test('secret-looking fields are redacted at any depth (camelCase, snake_case, kebab-case, any case)', () => {
  const input = {
    apiKey: `sk-${MARK}-1`,
    relay: {
      api_key: `${MARK}-2`,
      headers: [{ Authorization: `Bearer ${MARK}-3`, 'x-api-key': `${MARK}-4`, Cookie: `s=${MARK}-5` }],
      auth: { user: 'u', pass: `${MARK}-6` },
      credentials: [`${MARK}-7`],
      nested: { deeper: { token: `${MARK}-8`, accessToken: `${MARK}-9`, clientSecret: `${MARK}-10`, API_KEY: `${MARK}-11` } },
      password: 1234,
      passwd: `${MARK}-12`,
      key: `${MARK}-13`,
      secretValue: `${MARK}-14`,
      signingKeys: [`${MARK}-15`],
      credential: `${MARK}-16`,
    },
    maxTokens: 4096,
    secretOverlapSeconds: 86_400,
    allowPrivateCallbacks: true,
    keepAliveMs: 72_000,
    label: 'visible',
    services: { 'vendor/token': { provider: 'demo-image' } },
  };
  const out = redactSecrets(input) as typeof input;
  const text = JSON.stringify(out);
  assert.doesNotMatch(text, new RegExp(MARK), text);
  assert.doesNotMatch(text, /1234/);
  assert.equal(out.apiKey, REDACTED);
  assert.equal(out.relay.auth as unknown, REDACTED, 'a secret-named object is redacted whole');
  assert.equal(out.relay.headers[0]?.['x-api-key'], REDACTED);
  assert.equal(out.relay.nested.deeper.API_KEY, REDACTED);
  assert.deepEqual(
    [out.maxTokens, out.secretOverlapSeconds, out.allowPrivateCallbacks, out.keepAliveMs, out.label],
    [4096, 86_400, true, 72_000, 'visible'],
    'counts, durations, flags and plain text stay readable',
  );
  assert.deepEqual(out.services, { 'vendor/token': { provider: 'demo-image' } }, 'service names are not fields');
  assert.equal(input.apiKey, `sk-${MARK}-1`, 'the input is not changed');
});

test('URLs lose their userinfo and query values (and fragment), in any field; other text is unchanged', () => {
  assert.equal(redactUrl(`https://alice:${MARK}@api.example.com/v1/x?sig=${MARK}&X-Amz-Expires=60&flag#${MARK}`), 'https://[redacted]@api.example.com/v1/x?sig=[redacted]&X-Amz-Expires=[redacted]&[redacted]#[redacted]');
  assert.equal(redactUrl(`postgres://${MARK}@db:5432/app`), 'postgres://[redacted]@db:5432/app');
  assert.equal(redactUrl('https://api.example.com/v1'), 'https://api.example.com/v1');
  assert.equal(redactUrl('not a url ?sig=x'), 'not a url ?sig=x');
  const out = JSON.stringify(redactSecrets({ upstream: { baseUrl: `https://u:${MARK}@relay.example/`, mirrors: [`https://m.example/?token=${MARK}`] } }));
  assert.doesNotMatch(out, new RegExp(MARK));
  assert.match(out, /relay\.example/);
});

function runConfig(file: string): ReturnType<typeof spawnSync> & { stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--import', 'tsx', CLI, 'config'], {
    cwd: SERVER_ROOT,
    env: { ...process.env, TASKGATE_CONFIG: file, INIT_CWD: SERVER_ROOT, HOST: '', PORT: '', TASKGATE_PUBLIC_URL: '', TASKGATE_LOG_LEVEL: '' },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

test('`taskgate config` prints the configuration without a planted secret', () => {
  const file = join(tempDir(), 'taskgate.config.json');
  writeFileSync(file, JSON.stringify({ port: 9321, publicUrl: `https://user:pw-${MARK}@gw.example.com/base?sig=sig-${MARK}`, services: { 'demo/image': { price: 3 } } }));
  const run = runConfig(file);
  assert.equal(run.status, 0, run.stderr);
  assert.doesNotMatch(run.stdout, new RegExp(MARK), run.stdout);
  const printed = JSON.parse(run.stdout) as { port: number; publicUrl: string; services: Record<string, { price: number; provider: string }> };
  assert.equal(printed.port, 9321);
  assert.equal(printed.publicUrl, 'https://[redacted]@gw.example.com/base?sig=[redacted]');
  assert.deepEqual([printed.services['demo/image']?.price, printed.services['demo/image']?.provider], [3, 'demo-image']);
});

test('`taskgate config` refuses an unknown provider option (exit 2, the field named, the value not echoed)', () => {
  const file = join(tempDir(), 'taskgate.config.json');
  writeFileSync(file, JSON.stringify({ services: { 'flux/dev': { options: { apiKey: `sk-${MARK}` } } } }));
  const run = runConfig(file);
  assert.equal(run.status, 2, run.stdout);
  assert.match(run.stderr, /services\.flux\/dev\.options\.apiKey: unknown field/);
  assert.doesNotMatch(run.stderr + run.stdout, new RegExp(MARK));
});
