/**
 * Sends the protocol modules' requests with the platform `fetch`: a per-request timeout, and the
 * seeds' retry rules.
 *
 * - 4xx is never retried, 429 excepted.
 * - 429 and 5xx are retried up to `maxRetries` times with exponential backoff and full jitter
 *   (`random(0, min(maxDelayMs, baseDelayMs × 2^n))`); a `Retry-After` (seconds or an HTTP date)
 *   replaces the backoff. One longer than `maxDelayMs` is not waited for: the error is returned
 *   with `retryAfterMs` set.
 * - Network errors and timeouts are retried for reads and for creates that carry an
 *   `Idempotency-Key` (the platform answers a repeat with the first task). A create without a key
 *   is retried only when the request certainly never reached the platform (connection refused,
 *   DNS failure), or on 429 / 503 (the platform says it did not take it).
 */
import type { JsonObject } from '../protocols/common.js';
import { abortError, parseRetryAfter, TaskgateError } from './errors.js';
import type { Dialect, RetryOptions } from './types.js';

export interface WireRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers: Record<string, string>;
  body?: JsonObject;
}

export interface WireResponse {
  status: number;
  headers: Headers;
  /** The body parsed as JSON, or the text when it is not JSON (null when empty). */
  body: unknown;
  url: string;
}

/** How a request may be repeated: a read, a create with an idempotency key, or a bare create. */
export type RetryMode = 'read' | 'keyed-create' | 'create';

export interface TransportOptions {
  fetch: typeof fetch;
  retry: Required<RetryOptions>;
  timeoutMs: number;
  dialect: Dialect;
}

/** Error codes of node / undici that mean the request was never sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Network errors of requests that certainly never reached the platform. */
const NOT_SENT_ERRORS = new WeakSet<TaskgateError>();

export const DEFAULT_RETRY: Required<RetryOptions> = { maxRetries: 3, baseDelayMs: 500, maxDelayMs: 30_000 };
export const DEFAULT_TIMEOUT_MS = 60_000;
/**
 * Sleeps at least `ms` by the monotonic clock, or rejects with the abort error when `signal`
 * aborts first. Timers count from the event loop's cached time, so one may fire early by as long
 * as the current turn has run; a retry sent even a little before a server's Retry-After is refused
 * again, so the sleep checks the clock and waits out the rest.
 */
export function sleep(ms: number, signal?: AbortSignal, dialect: Dialect | null = null): Promise<void> {
  const until = performance.now() + ms;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal, dialect));
    let timer: ReturnType<typeof setTimeout>;
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal, dialect));
    };
    const wait = (left: number): void => {
      timer = setTimeout(() => {
        const rest = until - performance.now();
        if (rest > 0) return wait(Math.ceil(rest));
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, left);
    };
    wait(ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Transport {
  constructor(readonly opts: TransportOptions) {}

  /**
   * Sends `req`, retrying as the module comment says, and returns the last answer whatever its
   * status (the driver maps error answers). Rejects only when no answer came: `network_error`,
   * `request_timeout`, `aborted`.
   */
  async send(req: WireRequest, mode: RetryMode, signal?: AbortSignal): Promise<WireResponse> {
    const { maxRetries } = this.opts.retry;
    for (let attempt = 0; ; attempt++) {
      let res: WireResponse;
      try {
        res = await this.once(req, signal);
      } catch (err) {
        if (!(err instanceof TaskgateError) || err.code === 'aborted') throw err;
        // No answer: only a request that may be repeated safely is sent again.
        if ((mode === 'create' && !NOT_SENT_ERRORS.has(err)) || attempt >= maxRetries) throw err;
        await sleep(this.delayFor(attempt, null) ?? 0, signal, this.opts.dialect);
        continue;
      }
      if (!this.retriesStatus(res.status, mode) || attempt >= maxRetries) return res;
      const delay = this.delayFor(attempt, parseRetryAfter(res.headers.get('retry-after')));
      if (delay === null) return res; // Retry-After beyond the cap: the caller decides
      await sleep(delay, signal, this.opts.dialect);
    }
  }

  /**
   * Opens a streaming request (server-sent events): the timeout covers only the wait for the
   * answer's headers; no retries. Resolves with the `Response` whatever its status.
   */
  async open(req: WireRequest, signal: AbortSignal): Promise<Response> {
    // The timer stops at the headers; `signal` stays linked, so aborting it ends the body too.
    const { response, stopTimer } = await this.fetchWithTimeout(req, signal, 'text/event-stream');
    stopTimer();
    return response;
  }

  /** Whether an answer with this status is tried again. */
  private retriesStatus(status: number, mode: RetryMode): boolean {
    if (mode === 'create') return status === 429 || status === 503;
    return status === 429 || status >= 500;
  }

  /** The wait before retry `attempt` (0-based): `Retry-After` when given (null past the cap), else full jitter. */
  private delayFor(attempt: number, retryAfterMs: number | null): number | null {
    const { baseDelayMs, maxDelayMs } = this.opts.retry;
    if (retryAfterMs !== null) return retryAfterMs > maxDelayMs ? null : retryAfterMs;
    return Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
  }

  private async once(req: WireRequest, signal?: AbortSignal): Promise<WireResponse> {
    const { response, done, timedOut } = await this.fetchWithTimeout(req, signal, 'application/json');
    try {
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: parseBody(text), url: req.url };
    } catch (err) {
      throw this.failure(err, req, signal, timedOut());
    } finally {
      done();
    }
  }

  /** `fetch` under a timer (and the caller's signal); `done` clears the timer. */
  private async fetchWithTimeout(req: WireRequest, signal: AbortSignal | undefined, accept: string) {
    if (signal?.aborted) throw abortError(signal, this.opts.dialect);
    const controller = new AbortController();
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      controller.abort(new Error(`no answer within ${this.opts.timeoutMs} ms`));
    }, this.opts.timeoutMs);
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const stopTimer = (): void => clearTimeout(timer);
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const headers: Record<string, string> = { accept, ...req.headers };
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const response = await this.opts.fetch(req.url, {
        method: req.method, headers, body: req.body === undefined ? undefined : JSON.stringify(req.body), signal: controller.signal,
      });
      return { response, done, stopTimer, timedOut: () => expired };
    } catch (err) {
      done();
      throw this.failure(err, req, signal, expired);
    }
  }

  private failure(err: unknown, req: WireRequest, signal: AbortSignal | undefined, timedOut: boolean): TaskgateError {
    const dialect = this.opts.dialect;
    if (signal?.aborted) return abortError(signal, dialect);
    const where = `${req.method} ${stripQuery(req.url)}`;
    if (timedOut) {
      return new TaskgateError({ code: 'request_timeout', status: 0, message: `${where}: no answer within ${this.opts.timeoutMs} ms`, retryable: true, dialect, cause: err });
    }
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    const sysCode = isCoded(cause) ? cause.code : undefined;
    const detail = cause instanceof Error ? cause.message : String(cause);
    const error = new TaskgateError({ code: 'network_error', status: 0, message: `${where}: ${detail}`, retryable: true, dialect, cause: err });
    if (sysCode !== undefined && NOT_SENT.has(sysCode)) NOT_SENT_ERRORS.add(error);
    return error;
  }
}

function isCoded(value: unknown): value is { code: string } {
  return typeof value === 'object' && value !== null && typeof (value as { code?: unknown }).code === 'string';
}

function stripQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
