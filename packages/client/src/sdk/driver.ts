/**
 * What a dialect driver does (map one wire format onto the neutral {@link Task}) and what the
 * drivers share: the transport, the memory of submitted ids, small helpers.
 */
import type { JsonObject } from '../protocols/common.js';
import { parseRetryAfter, TaskgateError } from './errors.js';
import type { Transport, WireResponse } from './transport.js';
import type { Dialect, Task, TaskStatus } from './types.js';

export interface CallContext {
  signal?: AbortSignal;
  /** The service the caller named (`RequestOptions.service`). */
  service?: string;
}

export interface SubmitContext {
  signal?: AbortSignal;
  /** The `Idempotency-Key` to send; null sends none (and an ambiguous failure is not retried). */
  idempotencyKey: string | null;
  webhookUrl?: string;
}

export interface Driver {
  submit(service: string, input: JsonObject, ctx: SubmitContext): Promise<Task>;
  get(id: string, ctx: CallContext): Promise<Task>;
  /** The tasks found, in the order of `ids`; unknown ids are left out. */
  getMany(ids: readonly string[], ctx: CallContext): Promise<Task[]>;
  cancel(id: string, ctx: CallContext): Promise<Task>;
  /**
   * The task's changes as the platform pushes them (server-sent events), ending with a terminal
   * task; absent when the dialect has no stream. Throws (or ends early) when the stream fails:
   * the caller then polls.
   */
  events?(id: string, ctx: CallContext & { signal: AbortSignal }): AsyncIterable<Task>;
}

/** What the client remembers of an id it submitted (bounded; the oldest entries go first). */
export interface Remembered {
  service: string;
  /** Where the dialect said to find the task (the fal queue's `status_url` …, Replicate's `urls`). */
  urls?: Record<string, string>;
}

export class Memory {
  private readonly entries = new Map<string, Remembered>();
  constructor(private readonly limit = 10_000) {}

  get(id: string): Remembered | undefined {
    return this.entries.get(id);
  }

  set(id: string, entry: Remembered): void {
    this.entries.delete(id);
    this.entries.set(id, entry);
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}

export interface DriverContext {
  dialect: Dialect;
  baseUrl: string;
  token: string;
  transport: Transport;
  memory: Memory;
}

/** The service of `id`: remembered from its submit, else the one the caller named, else `service_required`. */
export function serviceOf(d: DriverContext, id: string, ctx: CallContext): string {
  const service = d.memory.get(id)?.service ?? ctx.service;
  if (service) return service;
  throw new TaskgateError({
    code: 'service_required', status: 0, retryable: false, dialect: d.dialect,
    message: `The ${d.dialect} dialect needs the task's service to read ${id}: this client did not submit it; pass { service } in the options`,
  });
}

/** An answer the SDK cannot read as what it asked for. */
export function invalidResponse(d: DriverContext, res: WireResponse, what: string): TaskgateError {
  return new TaskgateError({
    code: 'invalid_response', status: res.status, retryable: false, dialect: d.dialect, body: res.body,
    traceId: res.headers.get('x-trace-id'), requestId: res.headers.get('x-request-id'),
    message: `${what}: the answer (HTTP ${res.status}) is not one (${preview(res.body)})`,
  });
}

/** The answer's `Retry-After` in ms, when it has one. */
export function retryAfterOf(res: WireResponse): number | null {
  return parseRetryAfter(res.headers.get('retry-after'));
}

/** The trace and request ids every answer may carry in headers (taskgate: `x-trace-id`). */
export function headerIds(res: WireResponse): { traceId: string | null; requestId: string | null } {
  return { traceId: res.headers.get('x-trace-id'), requestId: res.headers.get('x-request-id') };
}

export function preview(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body) ?? String(body);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export const is2xx = (status: number): boolean => status >= 200 && status < 300;

/** A fraction in 0..1 (a percentage above 1 divided by 100), or null. */
export function fraction(value: unknown): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  return Math.min(1, Math.max(0, value > 1 ? value / 100 : value));
}

/** A neutral task with the defaults of a just-submitted one. */
export function task(id: string, status: TaskStatus, raw: unknown, fields: Partial<Task> = {}): Task {
  return { id, service: null, status, progress: status === 'succeeded' ? 1 : null, queuePosition: null, outputs: [], error: null, raw, ...fields };
}

/** Runs `fn` over `items`, at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** `getMany` by single reads: unknown ids (`not_found`) are left out, other errors reject. */
export async function getEach(driver: Pick<Driver, 'get'>, ids: readonly string[], ctx: CallContext): Promise<Task[]> {
  const found = await mapLimit(ids, 4, async (id) => {
    try {
      return await driver.get(id, ctx);
    } catch (err) {
      if (err instanceof TaskgateError && err.code === 'not_found') return null;
      throw err;
    }
  });
  return found.filter((t): t is Task => t !== null);
}

/** Adds an `Idempotency-Key` header (taskgate honours it on every dialect's create). */
export function withKey<R extends { headers: Record<string, string> }>(req: R, key: string | null): R {
  return key === null ? req : { ...req, headers: { ...req.headers, 'idempotency-key': key } };
}

/** After a cancel refused because the task had finished: the task as it is, when it really is finished. */
export async function finishedOr(driver: Pick<Driver, 'get'>, id: string, ctx: CallContext, refusal: TaskgateError): Promise<Task> {
  const current = await driver.get(id, ctx);
  if (current.status === 'succeeded' || current.status === 'failed' || current.status === 'cancelled') return current;
  throw refusal;
}
