/**
 * `createClient`: one client interface over the four dialects taskgate speaks (and the platforms
 * that speak them): the task API, APIXO, the fal queue and Replicate.
 */
import type { JsonObject } from '../protocols/common.js';
import { apixoDriver } from './drivers/apixo.js';
import { queueDriver } from './drivers/queue.js';
import { replicateDriver } from './drivers/replicate.js';
import { taskApiDriver } from './drivers/task-api.js';
import { Memory, type CallContext, type Driver, type DriverContext } from './driver.js';
import { TaskgateError } from './errors.js';
import { follow, waitFor } from './follow.js';
import { DEFAULT_RETRY, DEFAULT_TIMEOUT_MS, Transport } from './transport.js';
import { DIALECTS, type Client, type ClientOptions, type Dialect, type RequestOptions, type SubmitOptions, type Task, type WaitOptions } from './types.js';

const DRIVERS: Record<Dialect, (d: DriverContext) => Driver> = {
  'task-api': taskApiDriver,
  apixo: apixoDriver,
  queue: queueDriver,
  replicate: replicateDriver,
};

function invalid(message: string): TaskgateError {
  return new TaskgateError({ code: 'invalid_argument', status: 0, retryable: false, message });
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw invalid(`${name} must be a number ≥ 0, got ${String(value)}`);
  return value;
}

/** A random idempotency key (WebCrypto's UUID where there is one). */
function randomKey(): string {
  const c: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } | undefined = globalThis.crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  if (typeof c?.getRandomValues !== 'function') throw invalid('no WebCrypto: pass an idempotencyKey (or false) to submit');
  const bytes = c.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Creates a client for one platform and dialect. Nothing is sent until a method is called.
 *
 * `baseUrl` is the API base as the platform's docs write it: for a taskgate at
 * `https://gw.example`, `https://gw.example/v1` (task API, Replicate), `https://gw.example`
 * (APIXO) or `https://gw.example/v1/queue` (fal queue).
 *
 * @example
 * ```ts
 * import { createClient } from '@taskgate/client';
 *
 * const client = createClient({ baseUrl: 'https://gw.example/v1', token: process.env.TASKGATE_TOKEN!, dialect: 'task-api' });
 * const task = await client.submit('flux/dev', { prompt: 'a red fox' });
 * const done = await client.wait(task.id, { onUpdate: (t) => console.log(t.status, t.progress), timeoutMs: 120_000 });
 * if (done.status === 'succeeded') console.log(done.outputs.map((o) => o.url));
 * ```
 */
export function createClient(options: ClientOptions): Client {
  if (!DIALECTS.includes(options.dialect)) throw invalid(`dialect must be one of ${DIALECTS.join(', ')}, got ${String(options.dialect)}`);
  if (typeof options.baseUrl !== 'string' || !/^https?:\/\//i.test(options.baseUrl)) throw invalid(`baseUrl must be an http(s) URL, got ${String(options.baseUrl)}`);
  if (typeof options.token !== 'string' || options.token === '') throw invalid('token must be a non-empty string');
  const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (typeof fetchImpl !== 'function') throw invalid('no fetch: this platform has no global fetch; pass options.fetch');

  const dialect = options.dialect;
  const retry = {
    maxRetries: Math.floor(nonNegative('retry.maxRetries', options.retry?.maxRetries, DEFAULT_RETRY.maxRetries)),
    baseDelayMs: nonNegative('retry.baseDelayMs', options.retry?.baseDelayMs, DEFAULT_RETRY.baseDelayMs),
    maxDelayMs: nonNegative('retry.maxDelayMs', options.retry?.maxDelayMs, DEFAULT_RETRY.maxDelayMs),
  };
  const transport = new Transport({ fetch: fetchImpl, retry, timeoutMs: nonNegative('requestTimeoutMs', options.requestTimeoutMs, DEFAULT_TIMEOUT_MS), dialect });
  const driver = DRIVERS[dialect]({ dialect, baseUrl: options.baseUrl.replace(/\/+$/, ''), token: options.token, transport, memory: new Memory() });

  const ctxOf = (o: RequestOptions | undefined): CallContext => ({
    ...(o?.signal ? { signal: o.signal } : {}), ...(o?.service ? { service: o.service } : {}),
  });
  const checkId = (id: unknown): void => {
    if (typeof id !== 'string' || id === '') throw invalid(`a task id must be a non-empty string, got ${JSON.stringify(id)}`);
  };

  return {
    dialect,

    async submit(service: string, input: JsonObject, o: SubmitOptions = {}): Promise<Task> {
      if (typeof service !== 'string' || service === '') throw invalid('service must be a non-empty string');
      if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid('input must be a JSON object');
      const key = o.idempotencyKey === false ? null : (o.idempotencyKey ?? randomKey());
      return driver.submit(service, input, {
        idempotencyKey: key, ...(o.signal ? { signal: o.signal } : {}), ...(o.webhookUrl ? { webhookUrl: o.webhookUrl } : {}),
      });
    },

    async get(id: string, o?: RequestOptions): Promise<Task> {
      checkId(id);
      return driver.get(id, ctxOf(o));
    },

    async getMany(ids: readonly string[], o?: RequestOptions): Promise<Task[]> {
      if (!Array.isArray(ids)) throw invalid('ids must be an array of task ids');
      ids.forEach(checkId);
      return ids.length === 0 ? [] : driver.getMany([...new Set(ids)], ctxOf(o));
    },

    async cancel(id: string, o?: RequestOptions): Promise<Task> {
      checkId(id);
      return driver.cancel(id, ctxOf(o));
    },

    async wait(id: string, o?: WaitOptions): Promise<Task> {
      checkId(id);
      return waitFor(driver, dialect, id, o);
    },

    stream(id: string, o?: WaitOptions): AsyncIterable<Task> {
      checkId(id);
      return follow(driver, dialect, id, o);
    },
  };
}
