/**
 * Replicate's HTTP API (`https://api.replicate.com/v1`; taskgate's Replicate dialect at `…/v1`),
 * client side. Checked against the `replicate` npm client 1.4.
 *
 * - Auth: `Authorization: Bearer <token>`.
 * - Create: `POST {base}/models/{owner}/{name}/predictions {input}` for a model, or
 *   `POST {base}/predictions {version, input}` for a version (`owner/name:<version>` or a bare
 *   version id, as the npm client splits it), with `webhook` + `webhook_events_filter`
 *   (⊆ start, output, logs, completed) → 201 with the prediction. `Prefer: wait[=N]` holds it.
 * - Prediction: `{id, model, version, input, output, error, logs, status, created_at, urls:
 *   {get, cancel, stream?, web?}}`; status starting | processing | succeeded | failed | canceled.
 * - Get `GET urls.get`, cancel `POST urls.cancel`, list `GET {base}/predictions` (newest first,
 *   100 a page, `{previous, next, results}`; `next` is an absolute URL).
 * - Errors: problem+json `{title, detail, status}` (422 adds `invalid_fields`); older answers
 *   `{detail}` only.
 * Replicate has no idempotency key; the input is echoed in every prediction, lists included,
 * until the data is removed (about an hour after the prediction ends).
 */
import { bearer, encodePath, isObject, joinUrl, str, type JsonObject, type JsonValue, type ProtocolRequest } from './common.js';

export interface ReplicateEndpoint {
  /** `https://api.replicate.com/v1` (another taskgate: `https://gateway.example/v1`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; null sends none. */
  apiKey: string | null;
}

export type PredictionStatus = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';
export type WebhookEvent = 'start' | 'output' | 'logs' | 'completed';

/** What a model reference names: a model (`owner/name`) or a version. */
export type ModelTarget = { kind: 'model'; owner: string; name: string } | { kind: 'version'; version: string };

const MODEL_REF = /^([^/:\s]+)\/([^/:\s]+)(?::(\S+))?$/;

/** `owner/name` → the model; `owner/name:version` or a bare id → the version (as the npm client does). */
export function parseModelRef(ref: string): ModelTarget | null {
  const m = MODEL_REF.exec(ref.trim());
  if (m?.[1] && m[2]) return m[3] ? { kind: 'version', version: m[3] } : { kind: 'model', owner: m[1], name: m[2] };
  return /^[A-Za-z0-9]{8,}$/.test(ref.trim()) ? { kind: 'version', version: ref.trim() } : null;
}

export interface CreateOptions {
  webhook?: string | null;
  webhookEventsFilter?: readonly WebhookEvent[];
  /** `Prefer: wait=N` (seconds, 1–60); unset answers at once. */
  waitSeconds?: number;
}

/** The create request for `model` (see {@link parseModelRef}); throws on a reference that names nothing. */
export function createRequest(endpoint: ReplicateEndpoint, model: string, input: JsonObject, options: CreateOptions = {}): ProtocolRequest {
  const target = parseModelRef(model);
  if (!target) throw new RangeError(`not a Replicate model or version: ${model}`);
  const body: JsonObject = { input };
  if (options.webhook) {
    body.webhook = options.webhook;
    if (options.webhookEventsFilter) body.webhook_events_filter = [...options.webhookEventsFilter];
  }
  const headers = bearer(endpoint.apiKey);
  if (options.waitSeconds !== undefined) headers.prefer = `wait=${Math.min(60, Math.max(1, Math.ceil(options.waitSeconds)))}`;
  if (target.kind === 'version') {
    body.version = target.version;
    return { method: 'POST', url: joinUrl(endpoint.baseUrl, 'predictions'), headers, body };
  }
  return { method: 'POST', url: joinUrl(endpoint.baseUrl, `models/${encodePath(`${target.owner}/${target.name}`)}/predictions`), headers, body };
}

/** `GET {base}/predictions/{id}`, or the prediction's own `urls.get` when given. */
export function getRequest(endpoint: ReplicateEndpoint, idOrUrl: string): ProtocolRequest {
  const url = /^https?:\/\//i.test(idOrUrl) ? idOrUrl : joinUrl(endpoint.baseUrl, `predictions/${encodeURIComponent(idOrUrl)}`);
  return { method: 'GET', url, headers: bearer(endpoint.apiKey) };
}

/** `POST urls.cancel` (or `{base}/predictions/{id}/cancel`). */
export function cancelRequest(endpoint: ReplicateEndpoint, idOrUrl: string): ProtocolRequest {
  const url = /^https?:\/\//i.test(idOrUrl) ? idOrUrl : joinUrl(endpoint.baseUrl, `predictions/${encodeURIComponent(idOrUrl)}/cancel`);
  return { method: 'POST', url, headers: bearer(endpoint.apiKey) };
}

/** `GET {base}/predictions` (newest first), or a page's `next` URL. */
export function listRequest(endpoint: ReplicateEndpoint, nextUrl?: string | null): ProtocolRequest {
  return { method: 'GET', url: nextUrl ?? joinUrl(endpoint.baseUrl, 'predictions'), headers: bearer(endpoint.apiKey) };
}

export interface Prediction {
  id: string;
  status: PredictionStatus;
  model: string | null;
  version: string | null;
  /** The input as echoed; null once the data was removed (or absent). */
  input: JsonObject | null;
  output: JsonValue;
  /** The failure's message (Replicate gives a string; anything else is stringified). */
  error: string | null;
  logs: string | null;
  createdAt: string | null;
  urls: { get?: string; cancel?: string; stream?: string; web?: string };
}

const STATUSES: ReadonlySet<string> = new Set(['starting', 'processing', 'succeeded', 'failed', 'canceled']);
const httpUrl = (v: unknown): string | undefined => {
  const s = str(v);
  return s !== undefined && /^https?:\/\//i.test(s) ? s : undefined;
};

/** A prediction object; null when `body` is not one. */
export function parsePrediction(body: unknown): Prediction | null {
  if (!isObject(body)) return null;
  const id = str(body.id);
  const status = body.status;
  if (id === undefined || typeof status !== 'string' || !STATUSES.has(status)) return null;
  const urls: Prediction['urls'] = {};
  if (isObject(body.urls)) {
    for (const key of ['get', 'cancel', 'stream', 'web'] as const) {
      const u = httpUrl(body.urls[key]);
      if (u !== undefined) urls[key] = u;
    }
  }
  const err = body.error;
  const error = err === null || err === undefined || err === '' ? null : typeof err === 'string' ? err : JSON.stringify(err);
  return {
    id, status: status as PredictionStatus, model: str(body.model) ?? null, version: str(body.version) ?? null,
    input: isObject(body.input) ? body.input : null, output: body.output ?? null, error,
    logs: typeof body.logs === 'string' ? body.logs : null, createdAt: str(body.created_at) ?? null, urls,
  };
}

export interface PredictionPage {
  results: Prediction[];
  /** Entries that could not be read as predictions. */
  unreadable: number;
  next: string | null;
}

/** A list page `{previous, next, results}`; null when `body` is not one. */
export function parsePage(body: unknown): PredictionPage | null {
  if (!isObject(body) || !Array.isArray(body.results)) return null;
  const results: Prediction[] = [];
  let unreadable = 0;
  for (const item of body.results) {
    const p = parsePrediction(item);
    if (p) results.push(p);
    else unreadable++;
  }
  return { results, unreadable, next: httpUrl(body.next) ?? null };
}

/**
 * The file URLs of an output: a URL string, an array of them, or an object holding them (any
 * depth); only http(s) URLs, each once, in order. Text outputs (token arrays) yield none.
 */
export function outputUrls(output: JsonValue): string[] {
  const urls: string[] = [];
  const visit = (v: JsonValue, depth: number): void => {
    if (depth > 8) return;
    if (typeof v === 'string') {
      if (/^https?:\/\/\S+$/i.test(v) && !urls.includes(v)) urls.push(v);
    } else if (Array.isArray(v)) {
      for (const x of v) visit(x, depth + 1);
    } else if (isObject(v)) {
      for (const x of Object.values(v)) visit(x, depth + 1);
    }
  };
  visit(output, 0);
  return urls;
}

/**
 * Progress from logs, as far as they tell: the last tqdm-style percentage (`76%|███ | 7/10`,
 * what the npm client's `parseProgressFromLogs` reads) or the last `step i/n`; null otherwise.
 */
export function progressFromLogs(logs: string | null): number | null {
  if (!logs) return null;
  const lines = logs.split('\n').reverse();
  for (const line of lines) {
    const pct = /^\s*(\d{1,3})%\s*\|/.exec(line);
    if (pct?.[1]) return Math.min(100, Number(pct[1])) / 100;
    const step = /\bstep\s+(\d+)\s*\/\s*(\d+)/i.exec(line);
    if (step?.[1] && step[2] && Number(step[2]) > 0) return Math.min(1, Number(step[1]) / Number(step[2]));
  }
  return null;
}

export interface ReplicateError {
  status: number | null;
  title: string | null;
  detail: string;
  /** 422's `invalid_fields[].field` (`input.prompt`, `version`, …). */
  fields: string[];
}

/** A problem+json (or `{detail}`) error body; null when it is neither. */
export function parseError(body: unknown): ReplicateError | null {
  if (!isObject(body)) return null;
  const detail = str(body.detail) ?? str(body.title);
  if (detail === undefined) return null;
  const fields = Array.isArray(body.invalid_fields)
    ? body.invalid_fields.filter(isObject).map((f) => str(f.field)).filter((f): f is string => f !== undefined)
    : [];
  return { status: typeof body.status === 'number' ? body.status : null, title: str(body.title) ?? null, detail, fields };
}
