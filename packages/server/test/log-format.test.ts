/**
 * Log format of a real `taskgate serve` process: JSON lines by default (stdout is a pipe here),
 * pino-pretty's readable lines with TASKGATE_LOG_FORMAT=pretty; in both, the lines about a
 * request's task carry that request's trace id. `auto` is pretty only on a terminal.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { resolveLogFormat } from '../src/http/log.js';
import { call, FAST_SERVICES, removeDir, tempDir, until } from './helpers.js';
import { CLI, SERVER_ROOT } from './process.js';

const ADMIN = 'tga_log_format_admin_token_0123';

/** Runs `serve` with `format`, creates one task, and returns its trace id and every stdout line. */
async function runOnce(format: string): Promise<{ trace: string; taskId: string; lines: string[] }> {
  const dir = tempDir();
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ services: FAST_SERVICES }));
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
    cwd: SERVER_ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', TASKGATE_LOG_LEVEL: 'info', TASKGATE_DATA: dir, TASKGATE_CONFIG: config, TASKGATE_ADMIN_TOKEN: ADMIN, TASKGATE_LOG_FORMAT: format },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const errors: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr }).on('line', (l) => errors.push(l));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  try {
    const url = await until('the listening line', () => {
      const line = lines.find((l) => l.includes('taskgate listening'));
      return line ? /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(line)?.[1] : undefined;
    }, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${[...lines, ...errors].join('\n')}`);
    });
    const made = await call(url, 'POST', '/admin/tokens', ADMIN, { body: { name: 'log' } });
    const r = await call(url, 'POST', '/v1/midjourney/imagine', made.json.token as string, { body: { prompt: 'log format' } });
    assert.equal(r.status, 200, r.text);
    const trace = r.headers.get('x-trace-id')!;
    await until('the task succeeded line', () => (lines.some((l) => l.includes('task succeeded') && l.includes(trace)) ? true : undefined));
    return { trace, taskId: r.json.task_id as string, lines };
  } finally {
    child.kill('SIGTERM');
    await exited;
    removeDir(dir);
  }
}

const parses = (line: string): boolean => {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
};

test('TASKGATE_LOG_FORMAT=pretty: readable lines, each about the task still carrying the trace id', { timeout: 60_000 }, async () => {
  const { trace, taskId, lines } = await runOnce('pretty');
  const about = lines.filter((l) => l.includes(taskId));
  assert.deepEqual(about.map((l) => /(task \w+)/.exec(l)?.[1]), ['task created', 'task started', 'task succeeded']);
  for (const l of about) {
    assert.ok(!parses(l), `not JSON: ${l}`);
    assert.match(l, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: task \w+ \{/, l);
    assert.ok(l.includes(`"trace_id":"${trace}"`), l);
  }
  assert.ok(!lines.some(parses), 'no JSON line in pretty mode');
});

test('by default (stdout not a terminal) every line is JSON; the task lines carry the trace id', { timeout: 60_000 }, async () => {
  const { trace, taskId, lines } = await runOnce('');
  const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const about = entries.filter((e) => e.task_id === taskId);
  assert.deepEqual(about.map((e) => e.msg), ['task created', 'task started', 'task succeeded']);
  for (const e of about) assert.equal(e.trace_id, trace);
});

test('auto is pretty only on a terminal; json and pretty are as given', () => {
  assert.equal(resolveLogFormat('auto', { isTTY: true }), 'pretty');
  assert.equal(resolveLogFormat('auto', { isTTY: false }), 'json');
  assert.equal(resolveLogFormat('auto', {}), 'json');
  assert.equal(resolveLogFormat('json', { isTTY: true }), 'json');
  assert.equal(resolveLogFormat('pretty', { isTTY: false }), 'pretty');
});
