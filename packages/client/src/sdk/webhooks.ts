/**
 * Receiving callbacks: {@link verifyWebhook} checks a delivery's Standard Webhooks signature
 * (what taskgate, and Replicate, send), {@link parseWebhook} reads each dialect's callback body
 * into the neutral {@link Task}. WebCrypto only (`crypto.subtle`): Node ≥ 20, Deno, Bun, browsers
 * and workers.
 */
import { taskFromCallback as apixoCallback } from './drivers/apixo.js';
import { taskFromWebhook as queueWebhook } from './drivers/queue.js';
import { taskFromWebhook as replicateWebhook } from './drivers/replicate.js';
import { taskFromCallback as taskApiCallback } from './drivers/task-api.js';
import { TaskgateError } from './errors.js';
import type { Dialect, Task } from './types.js';

/** Request headers as `fetch` (`Headers`) or Node's `http` (`req.headers`) give them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** How far `webhook-timestamp` may be from now, either way. Default 300 s (Standard Webhooks). */
  toleranceSeconds?: number;
  /** The time to check against, in ms (default `Date.now()`). */
  now?: number;
}

/** A delivery whose signature checked out. */
export interface VerifiedWebhook {
  /** `webhook-id`: the same on every retry of one delivery; dedupe on it (delivery is at least once). */
  id: string;
  /** `webhook-timestamp`, Unix seconds. */
  timestamp: number;
  /** The body parsed as JSON (the raw text when it is not JSON). */
  body: unknown;
}

const DEFAULT_TOLERANCE_S = 300;
const SECRET_PREFIX = 'whsec_';

const isHeaders = (h: WebhookHeaders): h is Headers => typeof (h as { get?: unknown }).get === 'function';

function header(headers: WebhookHeaders, name: string): string | null {
  if (isHeaders(headers)) return headers.get(name);
  const record = headers;
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() !== name) continue;
    const value = record[key];
    return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
  }
  return null;
}

function fail(code: 'webhook_headers' | 'webhook_timestamp' | 'webhook_signature', message: string): TaskgateError {
  return new TaskgateError({ code, status: 0, retryable: false, message });
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}

/** Equal bytes, in time that depends only on the lengths. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function bytesOf(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return new TextEncoder().encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/**
 * Verifies a Standard Webhooks delivery: `webhook-signature` holds (space-separated) `v1,<base64
 * HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{raw body}">` under the `whsec_<base64>`
 * secret, and `webhook-timestamp` is within 5 minutes of now. Resolves with the delivery's id,
 * timestamp and parsed body; rejects with a {@link TaskgateError} `webhook_headers` (a header
 * missing), `webhook_timestamp` (too old or too new) or `webhook_signature` (no signature
 * matches). Pass several secrets during a rotation. Give it the body exactly as received (not
 * re-serialized JSON).
 *
 * @example
 * ```ts
 * // Node: http.createServer((req, res) => { … collect the raw body … })
 * const { id, body } = await verifyWebhook(rawBody, req.headers, process.env.TASKGATE_WEBHOOK_SECRET!);
 * if (seen.has(id)) return res.end(); // deliveries are at least once
 * const task = parseWebhook('task-api', body);
 * ```
 */
export async function verifyWebhook(
  rawBody: string | Uint8Array | ArrayBuffer, headers: WebhookHeaders, secret: string | readonly string[], options: VerifyOptions = {},
): Promise<VerifiedWebhook> {
  const id = header(headers, 'webhook-id');
  const stamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !stamp || !signatures) throw fail('webhook_headers', 'Missing webhook-id, webhook-timestamp or webhook-signature');
  const timestamp = Number(stamp);
  if (!/^\d+$/.test(stamp.trim()) || !Number.isSafeInteger(timestamp)) throw fail('webhook_timestamp', `Invalid webhook-timestamp ${JSON.stringify(stamp)}`);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_S;
  if (now - timestamp > tolerance) throw fail('webhook_timestamp', `webhook-timestamp is ${now - timestamp} s old (more than ${tolerance} s)`);
  if (timestamp - now > tolerance) throw fail('webhook_timestamp', `webhook-timestamp is ${timestamp - now} s in the future (more than ${tolerance} s)`);

  const body = bytesOf(rawBody);
  const prefix = new TextEncoder().encode(`${id}.${timestamp}.`);
  const signed = new Uint8Array(prefix.length + body.length);
  signed.set(prefix);
  signed.set(body, prefix.length);
  const given = signatures.split(' ').map((s) => s.trim()).filter((s) => s.startsWith('v1,')).map((s) => decodeBase64(s.slice(3)))
    .filter((b): b is Uint8Array<ArrayBuffer> => b !== null);

  let matched = false;
  for (const s of typeof secret === 'string' ? [secret] : secret) {
    const key = decodeBase64(s.startsWith(SECRET_PREFIX) ? s.slice(SECRET_PREFIX.length) : s);
    if (!key || key.length === 0) throw fail('webhook_signature', 'The secret is not a whsec_<base64> key');
    const cryptoKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const expected = new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, signed));
    // Every candidate is compared (no early exit), each in constant time.
    for (const candidate of given) matched = constantTimeEqual(expected, candidate) || matched;
  }
  if (!matched) throw fail('webhook_signature', 'No webhook-signature matches the body under the secret');

  const text = new TextDecoder().decode(body);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    // not JSON: the text is given as is
  }
  return { id, timestamp, body: parsed };
}

/**
 * Reads a callback body of `dialect` into the neutral task; null when it is not one. The body may
 * be the raw text or the parsed JSON. Bodies per dialect: the task API's success body or failure
 * envelope (`{success, task_id, …}`), APIXO's status envelope, the fal queue's `{request_id,
 * status: OK | ERROR, payload, error}`, Replicate's prediction. `service` is null except for
 * Replicate (the prediction names its model).
 *
 * @example
 * ```ts
 * const task = parseWebhook('queue', body);
 * if (task?.status === 'succeeded') await save(task.outputs[0]!.url);
 * ```
 */
export function parseWebhook(dialect: Dialect, body: unknown): Task | null {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      return null;
    }
  }
  switch (dialect) {
    case 'task-api':
      return taskApiCallback(value);
    case 'apixo':
      return apixoCallback(value);
    case 'queue':
      return queueWebhook(value);
    case 'replicate':
      return replicateWebhook(value);
    default:
      return null;
  }
}
