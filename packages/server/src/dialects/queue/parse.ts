/**
 * Parsing the queue dialect's wire: request paths (fal's subpath rule), the app an endpoint
 * belongs to, the submit body and the `fal_webhook` / `logs` query parameters.
 */
import { GatewayError } from '../../core/errors.js';
import { checkCallbackUrl, type CallbackPolicy } from '../../http/callback-url.js';
import type { ServiceDefinition, ServiceRegistry } from '../../core/services.js';
import type { JsonObject } from '../../core/types.js';
import { isJsonObject } from '../../core/types.js';

export const DIALECT = 'queue';

/** fal endpoint ids whose first segment is a namespace (`workflows/owner/alias/...`). */
const NAMESPACES = new Set(['workflows', 'comfy']);

export type RequestAction = 'result' | 'status' | 'stream' | 'cancel';

export interface RequestPath {
  /** The app part of the path (`fal-ai/flux`), as the client sent it. */
  app: string;
  id: string;
  action: RequestAction;
}

const REQUEST_PATH = /^(.+)\/requests\/([^/]+)(?:\/(status|status\/stream|cancel))?$/;

/** `fal-ai/flux/requests/{id}[/status[/stream]|/cancel]` → its parts; null for anything else. */
export function parseRequestPath(path: string): RequestPath | null {
  const m = REQUEST_PATH.exec(path);
  if (!m?.[1] || !m[2]) return null;
  const action: RequestAction = m[3] === undefined ? 'result' : m[3] === 'status/stream' ? 'stream' : m[3] === 'status' ? 'status' : 'cancel';
  return { app: m[1], id: m[2], action };
}

/**
 * The app an endpoint belongs to: `owner/alias` (or `namespace/owner/alias`). fal clients submit
 * to the full endpoint but poll, fetch and cancel under the app alone.
 */
export function appOf(endpoint: string): string {
  const parts = endpoint.split('/');
  const size = parts[0] !== undefined && NAMESPACES.has(parts[0]) ? 3 : 2;
  return parts.slice(0, size).join('/');
}

/** The services reachable under an app path: a queue alias equal to it or below it. */
export function servicesUnder(registry: ServiceRegistry, app: string): ServiceDefinition[] {
  return registry.all().filter((def) => (def.aliases[DIALECT] ?? []).some((alias) => alias === app || alias.startsWith(`${app}/`)));
}

/** The submit body: the model input (no body at all is an empty input, as fal clients send it). */
export function submitInput(body: unknown): JsonObject {
  if (body === undefined) return {};
  if (!isJsonObject(body)) throw new GatewayError('bad_request', 'Request body must be a JSON object');
  return body;
}

type Query = Record<string, string | string[] | undefined>;

/**
 * The `fal_webhook` query parameter, validated as an absolute http(s) URL whose address `policy`
 * allows (SSRF); null when absent.
 */
export async function webhookUrl(query: Query, policy: CallbackPolicy): Promise<string | null> {
  const value = query.fal_webhook;
  if (Array.isArray(value)) throw new GatewayError('bad_request', 'Query parameter fal_webhook must be given once');
  return checkCallbackUrl(value, 'Query parameter fal_webhook', policy);
}

/** `?logs=1` (also `true`): include the task's log lines. */
export function wantsLogs(query: Query): boolean {
  const value = query.logs;
  return value === '1' || value === 'true';
}
