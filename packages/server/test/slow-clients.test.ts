/**
 * Slow clients (issue: 300 unauthenticated sockets trickling 900 kB bodies took the gateway from
 * 125 to ~440 MB and were never closed). Against a real gateway process: unauthenticated bodies
 * are answered before they are read and their connections closed, so memory stays flat; an
 * authenticated body that does not arrive within `timeouts.requestMs` is answered 408 and closed;
 * so are headers that trickle past `timeouts.headersMs`. Bounded: sockets, bytes and time.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, removeDir, tempDir } from './helpers.js';
import { startServer, type ServerProcess } from './process.js';

const ADMIN = 'tga_slow_clients_admin';
const BODY = 900_000;
const SENT_AT_ONCE = BODY - 20;
/** Every socket ends by then, whatever happens (the test's own bound). */
const GIVE_UP_MS = 15_000;

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

interface Outcome {
  /** The status line the gateway answered, if any. */
  status: string | null;
  /** Milliseconds from connect until the gateway closed the connection (GIVE_UP_MS: never). */
  closedAfterMs: number;
}

/**
 * A client that sends the headers (all at once, or a byte at a time) and then a body of BODY
 * bytes of which all but 20 go at once and the rest one byte every `trickleMs`.
 */
function slowClient(port: number, path: string, headers: Record<string, string>, opts: { trickleMs: number; slowHeaders?: boolean }): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let status: string | null = null;
    const timers: NodeJS.Timeout[] = [];
    const finish = (): void => {
      for (const t of timers) clearInterval(t);
      socket.destroy();
      resolve({ status, closedAfterMs: Math.min(Date.now() - started, GIVE_UP_MS) });
    };
    timers.push(setTimeout(finish, GIVE_UP_MS));
    socket.on('data', (chunk: Buffer) => {
      status ??= chunk.toString('latin1').split('\r\n')[0] ?? null;
    });
    socket.on('error', () => undefined); // EPIPE / ECONNRESET once the gateway hangs up
    socket.on('close', finish);
    const head = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${BODY}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
    socket.once('connect', () => {
      if (opts.slowHeaders) {
        let i = 0;
        timers.push(setInterval(() => {
          if (i < head.length && !socket.destroyed) socket.write(head[i++]!);
        }, opts.trickleMs));
        return;
      }
      socket.write(head);
      socket.write(Buffer.alloc(SENT_AT_ONCE, 0x20));
      timers.push(setInterval(() => {
        if (!socket.destroyed) socket.write(' ');
      }, opts.trickleMs));
    });
  });
}

describe('slow clients', { timeout: 90_000 }, () => {
  const dir = tempDir();
  let server: ServerProcess;
  let port: number;
  let token: string;
  before(async () => {
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({
      timeouts: { requestMs: 1500, headersMs: 1000, checkIntervalMs: 100 },
      services: { 'slow/image': { provider: 'demo-image', mode: 'wait', options: { latencyMs: 3000, steps: 3, defaultWidth: 64, defaultHeight: 64 } } },
    }));
    server = await startServer({ TASKGATE_DATA: join(dir, 'data'), TASKGATE_ADMIN_TOKEN: ADMIN, TASKGATE_CONFIG: config });
    port = Number(new URL(server.url).port);
    token = (await call(server.url, 'POST', '/admin/tokens', ADMIN, { body: { name: 'slow' } })).json.token as string;
  });
  after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    removeDir(dir);
  });

  test('200 unauthenticated slow bodies: answered unread, closed at once, memory flat', async (t) => {
    const paths = ['/v1/flux/dev', '/v1/queue/fal-ai/flux/dev', '/v1/webhooks/secret/rotate', '/v1/no/such/path/here', '/api/v1/generateTask/flux-dev', '/v1/predictions'];
    const before = memoryMb(server.child.pid!);
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, i) => slowClient(port, paths[i % paths.length]!, i % 2 ? { Authorization: 'Bearer tg_wrong' } : {}, { trickleMs: 500 })),
    );
    const afterLoad = memoryMb(server.child.pid!);
    const late = outcomes.filter((o) => o.closedAfterMs > 5000);
    assert.deepEqual(late, [], `${late.length} connections were held open`);
    const answered = outcomes.filter((o) => o.status !== null);
    assert.ok(answered.length > 0, 'the gateway answered');
    for (const o of answered) assert.match(o.status!, /^HTTP\/1\.1 4(00|01|04)/, o.status!);
    // 200 bodies of 900 kB would be ~180 MB if they were read; the unread ones cost next to nothing.
    const growth = afterLoad.peak - before.peak;
    const slowest = Math.max(...outcomes.map((o) => o.closedAfterMs));
    t.diagnostic(`peak RSS ${before.peak.toFixed(1)} → ${afterLoad.peak.toFixed(1)} MB; every connection closed within ${slowest} ms`);
    assert.ok(growth < 60, `peak RSS grew by ${growth.toFixed(1)} MB (from ${before.peak.toFixed(1)} MB)`);
    // The gateway still serves.
    assert.equal((await call(server.url, 'GET', '/healthz', token)).status, 200);
  });

  test('authenticated bodies that do not arrive within timeouts.requestMs: 408 and closed', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, () => slowClient(port, '/v1/flux/dev', { Authorization: `Bearer ${token}` }, { trickleMs: 500 })),
    );
    for (const o of outcomes) {
      assert.ok(o.closedAfterMs < 6000, `closed after ${o.closedAfterMs} ms`);
      assert.ok(o.closedAfterMs >= 1400, `closed after ${o.closedAfterMs} ms, before the request timeout`);
      if (o.status !== null) assert.match(o.status, /^HTTP\/1\.1 408/);
    }
    assert.ok(outcomes.some((o) => o.status?.startsWith('HTTP/1.1 408')), 'the gateway answered 408');
  });

  test('waiting for a result longer than timeouts.requestMs is not cut (the limit is on sending the request)', async () => {
    const started = Date.now();
    const r = await call(server.url, 'POST', '/v1/slow/image', token, { body: { prompt: 'takes three seconds' } });
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json.data), `the inline result: ${r.text}`);
    assert.ok(Date.now() - started >= 2500, 'the request really waited past requestMs');
  });

  test('headers sent a byte at a time: closed after timeouts.headersMs', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => slowClient(port, '/v1/flux/dev', {}, { trickleMs: 200, slowHeaders: true })),
    );
    for (const o of outcomes) assert.ok(o.closedAfterMs < 5000, `closed after ${o.closedAfterMs} ms`);
    assert.equal((await call(server.url, 'GET', '/healthz', token)).status, 200);
  });
});
