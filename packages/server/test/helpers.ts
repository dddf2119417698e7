/**
 * Test helpers: a real gateway on 127.0.0.1 (ephemeral port) over a fresh SQLite file, with fast
 * demo services, and a tiny HTTP client. Nothing of taskgate is mocked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../src/config/load.js';
import type { Clock } from '../src/core/ports.js';
import type { Task } from '../src/core/types.js';
import { createGateway, type Gateway, type GatewayOptions } from '../src/http/gateway.js';

export const ADMIN_TOKEN = 'tga_test_admin_token_0123456789';

/** Fast versions of the default services, so tests finish in milliseconds. */
export const FAST_SERVICES = {
  'midjourney/imagine': { provider: 'demo-image', mode: 'wait', shape: 'midjourney', options: { latencyMs: 40, steps: 2, defaultWidth: 64, defaultHeight: 64 }, aliases: { apixo: ['midjourney'] } },
  'suno/audios': { provider: 'demo-audio', mode: 'wait', shape: 'suno', options: { latencyMs: 40, steps: 2, defaultDurationSec: 1 }, aliases: { apixo: ['suno'] } },
  'producer/audios': { provider: 'demo-audio', mode: 'wait', shape: 'suno', options: { latencyMs: 40, steps: 2, defaultDurationSec: 1 } },
  'veo/videos': { provider: 'demo-video', mode: 'async', shape: 'video', options: { latencyMs: 40, steps: 2, defaultWidth: 48, defaultHeight: 32, defaultFrames: 3 } },
  'demo/image': { provider: 'demo-image', mode: 'wait', shape: 'generic', options: { latencyMs: 20, steps: 1, defaultWidth: 64, defaultHeight: 64 } },
  'flux/dev': {
    provider: 'demo-image', mode: 'wait', shape: 'generic', options: { latencyMs: 60, steps: 3, defaultWidth: 64, defaultHeight: 64 },
    aliases: { apixo: ['flux-dev'], queue: ['fal-ai/flux/dev'], replicate: ['black-forest-labs/flux-dev'] },
  },
} as const;

export function tempDir(label = 'taskgate-test-'): string {
  return mkdtempSync(join(tmpdir(), label));
}

export interface StartOptions {
  config?: Record<string, unknown>;
  services?: Record<string, unknown>;
  dataDir?: string;
  clock?: Clock;
  logger?: Logger;
  workerId?: string;
  /** The gateway's environment (channel keys, S3 credentials); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The dashboard routes' settings (ping interval, stream cap, stats row cap). */
  dashboard?: GatewayOptions['dashboard'];
}

export interface TestGateway {
  gw: Gateway;
  url: string;
  token: string;
  /** The test token's account id (the owner of tasks it creates). */
  ownerId: string;
  dataDir: string;
  call(method: string, path: string, opts?: CallOptions): Promise<Reply>;
  close(): Promise<void>;
}

export interface CallOptions {
  body?: unknown;
  /** Raw body text (sent as-is); overrides `body`. */
  raw?: string;
  /** Bearer token; `null` sends no Authorization header. Default: the test token. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface Reply {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test convenience over JSON bodies
  json: any;
  text: string;
}

export async function call(base: string, method: string, path: string, defaultToken: string, opts: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? defaultToken : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export async function startGateway(opts: StartOptions = {}): Promise<TestGateway> {
  const dataDir = opts.dataDir ?? tempDir();
  const config = parseConfig({
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    ...opts.config,
    dispatch: { pollMs: 25, ...(opts.config?.dispatch as object | undefined) },
    // Webhook delivery is off unless a test turns it on (no callback may leave 127.0.0.1); local
    // receivers live on 127.0.0.1, so private callbacks are allowed; retries are quick.
    webhooks: {
      enabled: false, allowPrivateCallbacks: true, pollMs: 20, retrySchedule: [0, 0.05, 0.1], timeoutMs: 2000,
      ...(opts.config?.webhooks as object | undefined),
    },
    services: { ...FAST_SERVICES, ...opts.services },
  });
  const gw = await createGateway({
    config, dataDir, adminToken: ADMIN_TOKEN, clock: opts.clock, logger: opts.logger, workerId: opts.workerId, env: opts.env, dashboard: opts.dashboard,
  });
  const url = await gw.listen();
  const { token, record } = await gw.tokens.create('test');
  return {
    gw, url, token, ownerId: record.accountId, dataDir,
    call: (method, path, callOpts) => call(url, method, path, token, callOpts),
    close: () => gw.close(),
  };
}

/** Removes a data dir created by tempDir (best effort). */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Polls `retrieve` until the task has `finished_at` (bounded). */
export async function pollUntilFinished(t: TestGateway, vendor: string, id: string, timeoutMs = 10_000): Promise<Reply> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await t.call('POST', `/v1/${vendor}/tasks`, { body: { action: 'retrieve', id } });
    if (r.json?.finished_at !== undefined || Date.now() > until) return r;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Waits (bounded) until the stored task satisfies `pred`. */
export async function waitForTask(gw: Gateway, ownerTokenId: string, id: string, pred: (t: Task) => boolean, timeoutMs = 10_000): Promise<Task> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const task = await gw.tasks.get(ownerTokenId, id);
    if (task && pred(task)) return task;
    if (Date.now() > until) throw new Error(`task ${id} did not reach the expected state; last: ${task?.state}`);
    await new Promise((res) => setTimeout(res, 15));
  }
}

export class ManualClock implements Clock {
  constructor(public t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Polls `fn` until it returns something other than undefined (bounded by `timeoutMs`). */
export async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The ConfigError `fn` throws (fails the test if it throws nothing, or something else). */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

/** A signed file link's query (`?exp=…&kid=…&sig=…`, http/file-links.ts). */
export const SIGNED_QUERY = /\?exp=\d+&kid=[A-Za-z0-9_-]+&sig=[A-Za-z0-9_-]{43}/;

/**
 * A JSON value with the signatures of its file links removed, to compare two renderings of the
 * same task made at different times (each read signs anew).
 */
export function unsigned<T>(value: T): T {
  return JSON.parse(JSON.stringify(value).replace(new RegExp(SIGNED_QUERY.source, 'g'), '')) as T;
}
