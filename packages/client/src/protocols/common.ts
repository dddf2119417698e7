/**
 * What every protocol module shares: JSON types, the description of one HTTP request (built by a
 * protocol module, sent by whoever holds the transport: the SDK with `fetch`, the gateway with its
 * own deadline-guarded sender) and small readers for untrusted JSON.
 *
 * Protocol modules never send anything themselves and depend on nothing but the platform's
 * `fetch` types, so they run unchanged in Node, Deno, browsers and workers.
 */

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** One HTTP request, fully described: what to send, not how. */
export interface ProtocolRequest {
  method: 'GET' | 'POST';
  /** Absolute URL, query included. */
  url: string;
  /** Header names in lower case; `content-type` is implied by a `body`. */
  headers: Record<string, string>;
  /** Sent as JSON (`content-type: application/json`). */
  body?: JsonObject;
}

/** A request as `fetch(url, init)` takes it (for callers that send with the platform's fetch). */
export function toFetch(req: ProtocolRequest, signal?: AbortSignal): [string, RequestInit] {
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  return [req.url, { method: req.method, headers, body: req.body === undefined ? undefined : JSON.stringify(req.body), signal }];
}

/** Joins a base URL as a platform's docs write it (with or without a trailing `/`) and a path. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Encodes each `/`-separated segment of a model path (`flux/dev` stays `flux/dev`). */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** The `Authorization: Bearer` header, or none when there is no key. */
export function bearer(apiKey: string | null | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-empty string, or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A finite number, or undefined. */
export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
