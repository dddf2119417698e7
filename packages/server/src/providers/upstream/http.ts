/**
 * HTTP for upstream adapters: one request with a deadline and a capped body, and the shared
 * classification of what went wrong into the typed upstream errors (core/upstream.ts):
 * - no connection (refused, DNS, connect timeout): `UpstreamUnavailable` — nothing was sent;
 * - sent, then no answer (deadline, reset, cut): `UpstreamAmbiguous` — the upstream may have acted;
 * - 429: `UpstreamRateLimited` with Retry-After; 5xx: `UpstreamUnavailable`, except a submit's
 *   504 (a proxy timed out while the upstream may still have taken the task): `UpstreamAmbiguous`;
 * - 401 and 403 without a moderation reason: `UpstreamUnavailable` (the channel's key is refused:
 *   another channel may work); other 4xx: `UpstreamRejected` with the mapped error code.
 * Our own abort (cancel, shutdown) is rethrown as it is: it is not an upstream failure.
 */
import type { ErrorCode } from '../../core/errors.js';
import {
  UpstreamAmbiguous, UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable, type UpstreamCall, type UpstreamRequestResult,
} from '../../core/upstream.js';

/** Most bytes of an upstream answer that are read; a longer one is junk (and transient). */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export type Phase = 'submit' | 'poll' | 'cancel' | 'lookup';

export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
}

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
}

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_INVALID_URL']);

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && typeof e === 'object' && e !== null; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new UpstreamUnavailable(`upstream answer longer than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Sends one request with a deadline. Network failures are thrown classified; any status is returned. */
export async function send(req: UpstreamRequest, call: UpstreamCall, timeoutMs: number, phase: Phase): Promise<UpstreamResponse> {
  if (!call.observe) return sendOnce(req, call, timeoutMs, phase);
  const started = performance.now();
  const seconds = (): number => (performance.now() - started) / 1000;
  try {
    const res = await sendOnce(req, call, timeoutMs, phase);
    call.observe(phase, resultOf(res.status), seconds());
    return res;
  } catch (err) {
    const timedOut = err instanceof Error && (err.cause as { name?: unknown } | undefined)?.name === 'TimeoutError';
    call.observe(phase, call.signal.aborted ? 'aborted' : timedOut ? 'timeout' : 'network', seconds());
    throw err;
  }
}

function resultOf(status: number): UpstreamRequestResult {
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return status >= 400 ? 'client_error' : 'ok';
}

async function sendOnce(req: UpstreamRequest, call: UpstreamCall, timeoutMs: number, phase: Phase): Promise<UpstreamResponse> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: req.method, headers, body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: AbortSignal.any([call.signal, deadline]), redirect: 'error',
    });
  } catch (err) {
    throw classifyNetworkError(err, call, phase, timeoutMs);
  }
  let text: string;
  try {
    text = await readCapped(res);
  } catch (err) {
    if (err instanceof UpstreamUnavailable) throw err;
    throw classifyNetworkError(err, call, phase, timeoutMs);
  }
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function classifyNetworkError(err: unknown, call: UpstreamCall, phase: Phase, timeoutMs: number): Error {
  if (call.signal.aborted) return call.signal.reason instanceof Error ? call.signal.reason : new Error('aborted');
  const code = causeCode(err);
  if (code !== undefined && NOT_SENT.has(code)) return new UpstreamUnavailable(`upstream unreachable (${code})`, { cause: err });
  const what = (err as { name?: string }).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `connection lost (${code ?? 'no code'})`;
  // Only a submit can have created something; for reads an unanswered request is just unavailable.
  return phase === 'submit' ? new UpstreamAmbiguous(`upstream submit: ${what}`, { cause: err }) : new UpstreamUnavailable(`upstream ${phase}: ${what}`, { cause: err });
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date); null when absent or bad. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | null {
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const CODE_BY_STATUS: Record<number, ErrorCode> = { 400: 'bad_request', 404: 'not_found', 409: 'bad_request', 413: 'bad_request', 422: 'bad_request' };

/**
 * Throws the typed error a non-2xx answer means. `moderation` says the answer is a content
 * refusal (each protocol knows its own sign of one): `UpstreamRejected('forbidden')`.
 */
export function failFromStatus(res: UpstreamResponse, phase: Phase, message: string, moderation = false): never {
  const detail = `${message} (HTTP ${res.status})`;
  if (moderation) throw new UpstreamRejected('forbidden', detail);
  if (res.status === 429) throw new UpstreamRateLimited(detail, retryAfterMs(res.headers));
  if (res.status === 504 && phase === 'submit') throw new UpstreamAmbiguous(detail);
  if (res.status >= 500 || res.status === 401 || res.status === 403) throw new UpstreamUnavailable(detail);
  throw new UpstreamRejected(CODE_BY_STATUS[res.status] ?? 'bad_request', detail);
}
