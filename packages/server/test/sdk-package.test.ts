/**
 * The package is usable outside this workspace: `npm pack` of packages/client, `npm install` of
 * the tarball into a fresh project in a temp dir (offline: the package has no dependencies), a
 * plain `.mjs` that imports `@taskgate/client` and runs submit + wait in every dialect against a
 * live gateway started here, and `tsc` (moduleResolution nodenext) on a small `.ts` using the
 * package's types, strictly (a wrong dialect must be a type error).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { removeDir, startGateway, type TestGateway } from './helpers.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const clientDir = join(repo, 'packages/client');
const tsc = join(repo, 'node_modules/.bin/tsc');
const T = { timeout: 180_000 };

/** The environment without npm's per-run variables (so a parent `npm run` does not leak its workspace settings). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

const EXAMPLE = `
import { createClient, TaskgateError } from '@taskgate/client';

const origin = process.env.GATEWAY_ORIGIN;
const token = process.env.GATEWAY_TOKEN;
const targets = [
  { dialect: 'task-api', baseUrl: origin + '/v1', service: 'flux/dev' },
  { dialect: 'apixo', baseUrl: origin, service: 'flux-dev' },
  { dialect: 'queue', baseUrl: origin + '/v1/queue', service: 'fal-ai/flux/dev' },
  { dialect: 'replicate', baseUrl: origin + '/v1', service: 'black-forest-labs/flux-dev' },
];
const results = [];
for (const { dialect, baseUrl, service } of targets) {
  const client = createClient({ baseUrl, token, dialect });
  const task = await client.submit(service, { prompt: 'a red fox from outside the repo' });
  const updates = [];
  const done = await client.wait(task.id, { pollIntervalMs: 50, timeoutMs: 20000, onUpdate: (t) => updates.push(t.status) });
  const file = await fetch(done.outputs[0].url);
  const bytes = new Uint8Array(await file.arrayBuffer());
  results.push({ dialect, id: task.id, status: done.status, updates, url: done.outputs[0].url, fileStatus: file.status, png: bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47 });
}
let unauthorized = null;
try {
  await createClient({ baseUrl: origin + '/v1', token: 'tg_wrong', dialect: 'task-api' }).submit('flux/dev', { prompt: 'x' });
} catch (err) {
  unauthorized = { isTaskgateError: err instanceof TaskgateError, code: err.code, status: err.status };
}
console.log(JSON.stringify({ resolved: import.meta.resolve('@taskgate/client'), results, unauthorized }));
`;

const TYPED = `
import { createClient, isTerminal, parseWebhook, verifyWebhook, TaskgateError, type Client, type Task, type TaskStatus } from '@taskgate/client';

const client: Client = createClient({ baseUrl: 'http://127.0.0.1:8787/v1', token: 't', dialect: 'task-api', retry: { maxRetries: 2 } });
export async function demo(): Promise<TaskStatus> {
  const task: Task = await client.submit('flux/dev', { prompt: 'a red fox' }, { idempotencyKey: false });
  const done = await client.wait(task.id, { timeoutMs: 1000, onUpdate: (t) => console.log(t.progress, t.queuePosition) });
  for await (const update of client.stream(task.id)) console.log(update.outputs.map((o) => o.contentType ?? o.url));
  const verified = await verifyWebhook('{}', new Headers(), 'whsec_AAAA');
  const parsed: Task | null = parseWebhook('queue', verified.body);
  if (parsed && isTerminal(parsed.status)) console.log(parsed.error?.code);
  try {
    await client.cancel(done.id);
  } catch (err) {
    if (err instanceof TaskgateError) console.log(err.code, err.status, err.traceId, err.requestId, err.retryable);
  }
  return done.status;
}
// @ts-expect-error the dialect is one of four
createClient({ baseUrl: 'http://x', token: 't', dialect: 'graphql' });
// @ts-expect-error a status is a TaskStatus, not any string
const wrong: TaskStatus = 'done';
export { wrong };
`;

describe('@taskgate/client as an installed package, outside the workspace', () => {
  let gw: TestGateway;
  let packDir: string;
  let project: string;
  let packed: { filename: string; files: Array<{ path: string }> };

  before(async () => {
    gw = await startGateway();
    packDir = mkdtempSync(join(tmpdir(), 'taskgate-pack-'));
    project = realpathSync(mkdtempSync(join(tmpdir(), 'taskgate-sdk-example-')));
    assert.ok(!project.startsWith(repo), 'the project is outside the repository');
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], { cwd: clientDir, env: cleanEnv() });
    const [entry] = JSON.parse(stdout) as Array<typeof packed>;
    assert.ok(entry, `npm pack printed ${stdout}`);
    packed = entry;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-example', private: true, type: 'module' }, null, 2));
    await run('npm', ['install', join(packDir, packed.filename), '--offline', '--no-audit', '--no-fund'], { cwd: project, env: cleanEnv() });
  });
  after(async () => {
    await gw.close();
    removeDir(packDir);
    removeDir(project);
  });

  test('the tarball holds the built JS, the declarations and the README, not the sources', () => {
    const paths = packed.files.map((f) => f.path);
    for (const p of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/sdk/client.js', 'dist/sdk/webhooks.d.ts']) {
      assert.ok(paths.includes(p), `${p} is packed`);
    }
    assert.ok(!paths.some((p) => p.startsWith('src/') || p.startsWith('tsconfig')), 'no sources');
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/@taskgate/client/package.json'), 'utf8'));
    assert.deepEqual(manifest.exports['.'], { types: './dist/index.d.ts', import: './dist/index.js' });
    assert.equal(manifest.dependencies, undefined, 'no runtime dependencies');
  });

  test('a plain .mjs imports it and runs submit + wait in every dialect', T, async () => {
    writeFileSync(join(project, 'example.mjs'), EXAMPLE);
    const { stdout } = await run(process.execPath, ['example.mjs'], {
      cwd: project, timeout: 120_000, env: cleanEnv({ GATEWAY_ORIGIN: gw.url, GATEWAY_TOKEN: gw.token, NODE_OPTIONS: '' }),
    });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.ok(String(out.resolved).startsWith(`file://${project}/node_modules/@taskgate/client/`), `resolved to ${out.resolved}`);
    assert.deepEqual(out.results.map((r: { dialect: string }) => r.dialect), ['task-api', 'apixo', 'queue', 'replicate']);
    for (const r of out.results) {
      assert.equal(r.status, 'succeeded', JSON.stringify(r));
      assert.equal(r.updates.at(-1), 'succeeded');
      assert.ok(String(r.url).startsWith(`${gw.url}/files/`));
      assert.equal(r.fileStatus, 200);
      assert.equal(r.png, true);
      const stored = await gw.gw.tasks.get(gw.ownerId, r.id);
      assert.equal(stored?.state, 'succeeded', 'the task exists on the gateway');
    }
    assert.deepEqual(out.unauthorized, { isTaskgateError: true, code: 'invalid_token', status: 401 });
  });

  test('its types resolve with moduleResolution nodenext and are strict', T, async () => {
    writeFileSync(join(project, 'typed.ts'), TYPED);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true,
        lib: ['ES2022', 'DOM'], types: [], skipLibCheck: false,
      },
      files: ['typed.ts'],
    }));
    const result = await run(tsc, ['-p', project, '--listFiles'], { cwd: project, env: cleanEnv() }).catch((err: { stdout?: string; stderr?: string }) => {
      assert.fail(`tsc failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    });
    assert.ok(result.stdout.includes(`${project}/node_modules/@taskgate/client/dist/index.d.ts`), 'the declarations came from the installed package');

    // And a type error in the user's code is reported (the check is real).
    writeFileSync(join(project, 'typed.ts'), `${TYPED}\nconst n: number = createClient({ baseUrl: 'http://x', token: 't', dialect: 'apixo' }).dialect;\n`);
    const failed = await run(tsc, ['-p', project], { cwd: project, env: cleanEnv() }).then(() => null, (err: { stdout?: string }) => err.stdout ?? '');
    assert.ok(failed !== null && /TS2322/.test(failed), `tsc reports the error: ${failed}`);
  });
});
