/**
 * The client commands of the CLI without a terminal (child processes with piped output), against
 * a real gateway on 127.0.0.1: `--json` parses, submit/status/cancel in every dialect, outputs
 * saved as PNGs that decode at the requested size, `tasks` paging, `balance`, the queue position,
 * and the one-line errors (wrong token, gateway down, unknown task, usage errors with exit 2).
 * The terminal side (progress bar, Ctrl-C) is in cli-terminal.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { REFUSED_PORT } from './fixtures/upstream-kit.js';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, removeDir, startGateway, tempDir, until, waitForTask, type TestGateway } from './helpers.js';
import { lines, readPng, runCli, type CliRun } from './cli-run.js';
import { SERVER_ROOT } from './process.js';

let t: TestGateway;
let env: Record<string, string>;
const dirs: string[] = [];

before(async () => {
  t = await startGateway({
    services: {
      // Long enough to cancel while it runs; concurrency 1 so later tasks of it wait queued.
      'slow/image': { provider: 'demo-image', mode: 'async', shape: 'generic', options: { latencyMs: 60_000, steps: 60, defaultWidth: 64, defaultHeight: 64 } },
      'line/image': {
        provider: 'demo-image', mode: 'async', shape: 'generic', concurrency: 1, aliases: { queue: ['acme/line'] },
        options: { latencyMs: 1200, steps: 3, defaultWidth: 64, defaultHeight: 64 },
      },
      'demo/image': { price: 3 },
    },
  });
  env = { TASKGATE_URL: t.url, TASKGATE_TOKEN: t.token };
});

after(async () => {
  await t.close();
  for (const d of dirs) removeDir(d);
});

function outDir(): string {
  const d = tempDir('taskgate-cli-out-');
  dirs.push(d);
  return d;
}

/** One line on stderr, starting `taskgate: error:`. */
function oneErrorLine(run: CliRun, pattern: RegExp): string {
  const errLines = lines(run.stderr);
  assert.equal(errLines.length, 1, `exactly one line on stderr:\n${run.stderr}`);
  assert.match(errLines[0]!, /^taskgate: error: /);
  assert.match(errLines[0]!, pattern);
  return errLines[0]!;
}

test('--version prints the package version; every command has --help', { timeout: 120_000 }, async () => {
  const pkg = JSON.parse(readFileSync(join(SERVER_ROOT, 'package.json'), 'utf8')) as { version: string };
  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, `${pkg.version}\n`);

  const top = await runCli(['--help']);
  assert.equal(top.code, 0, top.stderr);
  for (const name of ['serve', 'tokens', 'admin-token', 'config', 'submit', 'status', 'cancel', 'tasks', 'balance']) {
    assert.match(top.stdout, new RegExp(`^  ${name}\\b`, 'm'), `${name} listed in taskgate --help`);
  }
  const expected: [string[], RegExp][] = [
    [['serve'], /TASKGATE_DATA/],
    [['tokens'], /create \[options\] <name>/],
    [['tokens', 'create'], /--services <a,b>[\s\S]*--concurrency <N>/],
    [['tokens', 'update'], /--expires <ISO\|none>[\s\S]*--enable/],
    [['tokens', 'list'], /never the token itself/],
    [['tokens', 'disable'], /disable a token/],
    [['tokens', 'delete'], /delete a token/],
    [['admin-token'], /reset/],
    [['admin-token', 'reset'], /replace the admin token/],
    [['config'], /effective configuration/],
    [['submit'], /--prompt <text>[\s\S]*--input <json>[\s\S]*--input-file <file>[\s\S]*--wait[\s\S]*--out <dir>[\s\S]*--dialect <dialect>[\s\S]*Ctrl-C/],
    [['status'], /--service <service>[\s\S]*--dialect/],
    [['cancel'], /--service <service>[\s\S]*--dialect/],
    [['tasks'], /--limit <N>[\s\S]*--cursor <cursor>/],
    [['balance'], /--url <url>[\s\S]*--token <token>[\s\S]*--json/],
  ];
  for (const [args, pattern] of expected) {
    const run = await runCli([...args, '--help']);
    assert.equal(run.code, 0, `${args.join(' ')} --help: ${run.stderr}`);
    assert.match(run.stdout, new RegExp(`^Usage: taskgate ${args.join(' ')}\\b`), args.join(' '));
    assert.match(run.stdout, pattern, args.join(' '));
  }
});

test('usage errors exit 2 with one line, before any request', { timeout: 60_000 }, async () => {
  const down = { TASKGATE_URL: `http://127.0.0.1:${REFUSED_PORT}`, TASKGATE_TOKEN: 'tg_unused_0123456789' };
  const inputFile = join(outDir(), 'input.json');
  writeFileSync(inputFile, '{"prompt": "a red fox",}');
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['submit', 'flux/dev', '--input', '{"prompt": "a red fox"'], down, /--input is not valid JSON/],
    [['submit', 'flux/dev', '--input', '[1, 2]'], down, /--input must be a JSON object .*not an array/],
    [['submit', 'flux/dev', '--input-file', inputFile], down, /--input-file .*input\.json is not valid JSON/],
    [['submit', 'flux/dev', '--input-file', join(outDir(), 'absent.json')], down, /cannot read --input-file .*ENOENT/],
    [['submit', 'flux/dev', '--input', '{}', '--input-file', inputFile], down, /--input <json>' cannot be used with option '--input-file/],
    [['submit', 'flux/dev', '--dialect', 'soap'], down, /--dialect <dialect>' argument 'soap' is invalid/],
    [['submit', 'flux/dev', '--prompt', 'x'], { TASKGATE_URL: t.url }, /no API token: pass --token or set TASKGATE_TOKEN/],
    [['submit', 'flux/dev', '--prompt', 'x', '--url', 'ftp://example.com'], down, /must be an http:\/\/ or https:\/\/ URL/],
    [['tasks', '--limit', '0'], down, /--limit <N>' argument '0' is invalid/],
    [['status'], down, /missing required argument 'id'/],
  ];
  for (const [args, e, pattern] of cases) {
    const run = await runCli(args, e);
    assert.equal(run.code, 2, `${args.join(' ')}: exit ${run.code}\n${run.stderr}`);
    oneErrorLine(run, pattern);
    assert.equal(run.stdout, '');
  }
});

test('submit: the task id, or the task with --json; status finds it (human and --json)', { timeout: 60_000 }, async () => {
  const plain = await runCli(['submit', 'flux/dev', '--prompt', 'a red fox'], env);
  assert.equal(plain.code, 0, plain.stderr);
  const id = plain.stdout.trim();
  assert.match(id, /^[0-9a-f-]{36}$/, 'just the id');
  assert.ok(await t.gw.tasks.get(t.ownerId, id), 'the gateway has it');

  const json = await runCli(['submit', 'flux/dev', '--prompt', 'a red fox', '--json'], env);
  assert.equal(json.code, 0, json.stderr);
  const submitted = JSON.parse(json.stdout) as { id: string; status: string; service: string };
  assert.ok(['queued', 'running', 'succeeded'].includes(submitted.status));
  await waitForTask(t.gw, t.ownerId, submitted.id, (x) => x.state === 'succeeded');

  const status = await runCli(['status', submitted.id, '--service', 'flux/dev', '--json'], env);
  assert.equal(status.code, 0, status.stderr);
  const task = JSON.parse(status.stdout) as { id: string; status: string; outputs: { url: string }[]; raw: unknown };
  assert.equal(task.id, submitted.id);
  assert.equal(task.status, 'succeeded');
  assert.equal(task.outputs.length, 1);
  assert.ok(task.raw, 'the wire body is kept');

  const human = await runCli(['status', submitted.id, '--service', 'flux/dev'], env);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, new RegExp(`^id +${submitted.id}$`, 'm'));
  assert.match(human.stdout, /^status +succeeded$/m);
  assert.match(human.stdout, /^outputs +http:\/\/127\.0\.0\.1:\d+\/files\/\S+\.png/m);

  // Replicate finds a task by id alone; the task API needs its service (a usage error says so).
  const replicate = await runCli(['status', submitted.id, '--dialect', 'replicate', '--json'], env);
  assert.equal(replicate.code, 0, replicate.stderr);
  assert.equal((JSON.parse(replicate.stdout) as { status: string }).status, 'succeeded');
  const noService = await runCli(['status', submitted.id], env);
  assert.equal(noService.code, 2);
  oneErrorLine(noService, /needs the task's service .*--service/);

  const unknown = await runCli(['status', '01900000-0000-7000-8000-000000000000', '--service', 'flux/dev'], env);
  assert.equal(unknown.code, 1);
  oneErrorLine(unknown, /task 01900000-0000-7000-8000-000000000000 not found/);
  const noSuchService = await runCli(['submit', 'nope/nothing', '--prompt', 'x'], env);
  assert.equal(noSuchService.code, 1);
  oneErrorLine(noSuchService, /service nope\/nothing is unknown to the task-api dialect/);
});

test('submit --wait in every dialect saves the PNG at the requested size and prints its path', { timeout: 120_000 }, async () => {
  const names = { 'task-api': 'flux/dev', apixo: 'flux-dev', queue: 'fal-ai/flux/dev', replicate: 'black-forest-labs/flux-dev' } as const;
  for (const [dialect, service] of Object.entries(names)) {
    const dir = join(outDir(), 'nested', dialect);
    const human = await runCli(['submit', service, '--dialect', dialect, '--prompt', 'a red fox', '--input', '{"width":96,"height":80}', '--wait', '--out', dir], env);
    assert.equal(human.code, 0, `${dialect}: ${human.stderr}`);
    const [path, ...rest] = lines(human.stdout);
    assert.deepEqual(rest, [], `${dialect}: only the path on stdout`);
    assert.match(path!, new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[0-9a-f-]{36}-1\\.png$`));
    const png = readPng(path!);
    assert.deepEqual([png.width, png.height], [96, 80], dialect);
    const id = /([0-9a-f-]{36})-1\.png$/.exec(path!)![1]!;
    assert.equal((await t.gw.tasks.get(t.ownerId, id))?.state, 'succeeded');
    assert.match(human.stderr, new RegExp(`task ${id} submitted to ${service.replace(/[/.]/g, '\\$&')}`));
    assert.match(human.stderr, /succeeded \(1 file saved\)/);

    const json = await runCli(['submit', service, '--dialect', dialect, '--prompt', 'a red fox', '--wait', '--json', '--out', dir], env);
    assert.equal(json.code, 0, json.stderr);
    const done = JSON.parse(json.stdout) as { id: string; status: string; files: string[] };
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.files, [join(dir, `${done.id}-1.png`)]);
    assert.equal(readPng(done.files[0]!).width, 64);
  }
});

test('submit --wait: a failed task exits 1 with its error; --input-file and --prompt merge', { timeout: 60_000 }, async () => {
  const file = join(outDir(), 'input.json');
  writeFileSync(file, JSON.stringify({ prompt: 'overridden', width: 72, height: 64 }));
  const dir = outDir();
  const ok = await runCli(['submit', 'flux/dev', '--input-file', file, '--prompt', 'a red fox', '--wait', '--json', '--out', dir], env);
  assert.equal(ok.code, 0, ok.stderr);
  const done = JSON.parse(ok.stdout) as { id: string; files: string[] };
  assert.equal((await t.gw.tasks.get(t.ownerId, done.id))?.input.prompt, 'a red fox', '--prompt wins over the file');
  assert.deepEqual([readPng(done.files[0]!).width, readPng(done.files[0]!).height], [72, 64]);

  const failed = await runCli(['submit', 'flux/dev', '--prompt', 'a fail-demo-word fox', '--wait', '--out', dir], env);
  assert.equal(failed.code, 1);
  assert.equal(failed.stdout, '');
  assert.match(lines(failed.stderr).at(-1)!, /^taskgate: error: task \S+ failed: api_error: /);
});

test('cancel: a running task is cancelled on the gateway; a finished one is left as it is', { timeout: 60_000 }, async () => {
  const submitted = await runCli(['submit', 'slow/image', '--prompt', 'a slow fox'], env);
  assert.equal(submitted.code, 0, submitted.stderr);
  const id = submitted.stdout.trim();
  await waitForTask(t.gw, t.ownerId, id, (x) => x.state === 'running');
  const cancelled = await runCli(['cancel', id, '--service', 'slow/image', '--json'], env);
  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.equal((JSON.parse(cancelled.stdout) as { status: string }).status, 'cancelled');
  assert.equal((await t.gw.tasks.get(t.ownerId, id))?.state, 'cancelled');

  const finished = JSON.parse((await runCli(['submit', 'flux/dev', '--prompt', 'x', '--wait', '--json', '--out', outDir()], env)).stdout) as { id: string };
  const again = await runCli(['cancel', finished.id, '--service', 'flux/dev'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^status +succeeded$/m);
  assert.match(again.stderr, /had already finished \(succeeded\); it was left as it is/);
  assert.equal((await t.gw.tasks.get(t.ownerId, finished.id))?.state, 'succeeded');

  // Over another dialect too (the queue names it fal-ai/flux/dev; Replicate needs no service).
  const other = (await runCli(['submit', 'slow/image', '--prompt', 'x'], env)).stdout.trim();
  const viaReplicate = await runCli(['cancel', other, '--dialect', 'replicate'], env);
  assert.equal(viaReplicate.code, 1, 'slow/image is not exposed to the Replicate dialect');
  oneErrorLine(viaReplicate, /not found/);
  const viaTaskApi = await runCli(['cancel', other, '--service', 'slow/image'], env);
  assert.equal(viaTaskApi.code, 0, viaTaskApi.stderr);
  assert.match(viaTaskApi.stdout, /^status +cancelled/m);
});

test('tasks: recent tasks a page at a time (--limit, then --cursor)', { timeout: 60_000 }, async () => {
  const { token } = await t.gw.tokens.create('pager');
  const mine = { ...env, TASKGATE_TOKEN: token };
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await runCli(['submit', 'flux/dev', '--prompt', `fox ${i}`], mine)).stdout.trim());
  const newest = [...ids].reverse();

  type Page = { tasks: { id: string; status: string; service: string }[]; next_cursor: string | null };
  const first = JSON.parse((await runCli(['tasks', '--limit', '1', '--json'], mine)).stdout) as Page;
  assert.deepEqual(first.tasks.map((x) => x.id), [newest[0]]);
  assert.equal(first.tasks[0]!.service, 'black-forest-labs/flux-dev');
  assert.equal(first.next_cursor, newest[0]);
  const second = JSON.parse((await runCli(['tasks', '--limit', '1', '--cursor', first.next_cursor!, '--json'], mine)).stdout) as Page;
  assert.deepEqual(second.tasks.map((x) => x.id), [newest[1]]);
  const rest = JSON.parse((await runCli(['tasks', '--limit', '5', '--cursor', second.next_cursor!, '--json'], mine)).stdout) as Page;
  assert.deepEqual(rest.tasks.map((x) => x.id), [newest[2]]);
  assert.equal(rest.next_cursor, null, 'the last page');

  const human = await runCli(['tasks', '--limit', '2'], mine);
  assert.equal(human.code, 0, human.stderr);
  const rows = lines(human.stdout);
  assert.equal(rows.length, 3);
  assert.match(rows[0]!, new RegExp(`^${newest[0]}  (queued|running|succeeded) +black-forest-labs/flux-dev +\\d{4}-`));
  assert.match(rows[1]!, new RegExp(`^${newest[1]} `));
  assert.equal(rows[2], `more: taskgate tasks --limit 2 --cursor ${newest[1]}`);
  const none = await runCli(['tasks'], { ...env, TASKGATE_TOKEN: (await t.gw.tokens.create('empty')).token });
  assert.equal(none.stdout, 'no tasks\n');
});

test('balance: the owner API answer, as text and --json', { timeout: 60_000 }, async () => {
  const { token, record } = await t.gw.tokens.create('payer');
  const mine = { ...env, TASKGATE_TOKEN: token };
  const topup = await t.call('POST', `/admin/accounts/${record.accountId}/topup`, { token: ADMIN_TOKEN, body: { amount: 50, reason: 'cli test' } });
  assert.equal(topup.status, 200, topup.text);
  const paid = await runCli(['submit', 'demo/image', '--prompt', 'a paid fox', '--wait', '--out', outDir()], mine);
  assert.equal(paid.code, 0, paid.stderr);
  const api = (await t.call('GET', '/v1/account/balance', { token })).json as { balance: number; held: number; used: number };
  assert.equal(api.used, 3);
  const json = await runCli(['balance', '--json'], mine);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), api);
  const human = await runCli(['balance'], mine);
  assert.equal(human.stdout, `balance  ${api.balance}\nheld     ${api.held}\nused     ${api.used}\n`);
});

test('a wrong token, and a gateway that is down: one clear line, non-zero exit, no secret', { timeout: 90_000 }, async () => {
  const wrong = 'tg_wrong_token_0123456789abcdef';
  for (const args of [['submit', 'flux/dev', '--prompt', 'x'], ['status', 'abc', '--service', 'flux/dev'], ['tasks'], ['balance'], ['cancel', 'abc', '--dialect', 'queue', '--service', 'fal-ai/flux/dev']]) {
    const run = await runCli([...args, '--token', wrong], { TASKGATE_URL: t.url });
    assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
    oneErrorLine(run, /refused the API token: it is wrong or missing .*TASKGATE_TOKEN/);
    assert.ok(!(run.stdout + run.stderr).includes(wrong), 'the token is never printed');
  }
  const port = REFUSED_PORT;
  for (const args of [['submit', 'flux/dev', '--prompt', 'x', '--wait'], ['status', 'abc', '--dialect', 'replicate'], ['tasks'], ['balance']]) {
    const run = await runCli(args, { TASKGATE_URL: `http://127.0.0.1:${port}`, TASKGATE_TOKEN: t.token });
    assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
    oneErrorLine(run, new RegExp(`the gateway is not reachable at http://127\\.0\\.0\\.1:${port}: connection refused`));
    assert.ok(!run.stderr.includes(t.token));
  }
});

test('submit --wait shows the queue position while queued (queue dialect), then the progress', { timeout: 60_000 }, async () => {
  // Two tasks ahead on a service that runs one at a time.
  for (let i = 0; i < 2; i++) {
    const r = await t.call('POST', '/v1/line/image', { body: { prompt: `ahead ${i}`, async: true } });
    assert.equal(r.status, 200, r.text);
  }
  await until('the first task ahead running', async () => ((await t.gw.tasks.list({ ownerId: t.ownerId, services: ['line/image'], limit: 5 })).some((x) => x.state === 'running') ? true : undefined));
  const dir = outDir();
  const run = await runCli(['submit', 'acme/line', '--dialect', 'queue', '--prompt', 'a queued fox', '--wait', '--out', dir], env);
  assert.equal(run.code, 0, run.stderr);
  const log = lines(run.stderr).slice(1);
  assert.match(log[0]!, /^acme\/line: queued \(position 1 in the queue\)$/, run.stderr);
  const runningAt = log.indexOf('acme/line: running');
  assert.ok(runningAt > 0, run.stderr);
  assert.equal(log.at(-1), 'acme/line: succeeded (1 file saved)');
  assert.ok(existsSync(lines(run.stdout)[0]!));
});
