/**
 * How the client commands reach a gateway: the base URL and token (flags, else `TASKGATE_URL` /
 * `TASKGATE_TOKEN`), an SDK client per dialect, and the two reads the SDK has no verb for (the
 * Replicate dialect's prediction list, the account balance), sent with the protocol modules'
 * request builders. Nothing here touches the store: everything goes over HTTP.
 */
import { createClient, replicate, TaskgateError, toFetch, type Client, type Dialect, type ProtocolRequest } from '@taskgate/client';
import { CliError, EXIT, explain, type Subject } from './errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:8787';

/** The options every client command takes. */
export interface ConnectionFlags {
  url?: string;
  token?: string;
  json?: boolean;
}

export interface Connection {
  /** The gateway origin, without a trailing slash. */
  url: string;
  token: string;
  json: boolean;
}

/** The base URL and token from the flags or the environment (usage errors exit 2). */
export function connection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  const raw = flags.url ?? (env.TASKGATE_URL || DEFAULT_URL);
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new CliError(`--url / TASKGATE_URL is not a URL: ${JSON.stringify(raw.slice(0, 200))}`, EXIT.usage);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError('--url / TASKGATE_URL must be an http:// or https:// URL', EXIT.usage);
  if (parsed.username || parsed.password) throw new CliError('--url / TASKGATE_URL must not carry credentials; pass the token with --token or TASKGATE_TOKEN', EXIT.usage);
  if (parsed.search || parsed.hash) throw new CliError('--url / TASKGATE_URL is the gateway origin (http://host:port), without a query', EXIT.usage);
  const token = flags.token ?? env.TASKGATE_TOKEN ?? '';
  if (token === '') throw new CliError('no API token: pass --token or set TASKGATE_TOKEN', EXIT.usage);
  return { url: parsed.href.replace(/\/+$/, ''), token, json: flags.json === true };
}

/** Each dialect's API base on a gateway at `origin`, as the SDK's `baseUrl` takes it. */
export function dialectBase(origin: string, dialect: Dialect): string {
  switch (dialect) {
    case 'task-api':
      return `${origin}/v1`;
    case 'apixo':
      return origin;
    case 'queue':
      return `${origin}/v1/queue`;
    case 'replicate':
      return `${origin}/v1`;
  }
}

export function sdkClient(conn: Connection, dialect: Dialect): Client {
  return createClient({ baseUrl: dialectBase(conn.url, dialect), token: conn.token, dialect });
}

/** Runs an SDK call, turning its failure into one clear line about `subject`. */
export async function attempt<T>(conn: Connection, dialect: string, subject: Subject, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw explain(err, { url: conn.url, dialect, subject, secret: conn.token });
  }
}

const READ_TIMEOUT_MS = 30_000;

/** Sends one read (no retries) and returns its JSON body; an error answer becomes a TaskgateError. */
async function read(req: ProtocolRequest, dialect: Dialect): Promise<unknown> {
  const [url, init] = toFetch(req, AbortSignal.timeout(READ_TIMEOUT_MS));
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, init);
    text = await res.text();
  } catch (err) {
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    throw new TaskgateError({
      code: timedOut ? 'request_timeout' : 'network_error', status: 0, dialect, cause: err,
      message: timedOut ? `no answer within ${READ_TIMEOUT_MS} ms` : err instanceof Error ? err.message : String(err),
    });
  }
  let body: unknown = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = text;
  }
  if (res.ok) return body;
  throw errorAnswer(res, body, dialect);
}

/** A task API envelope (`{error: {code, message}}`) or a problem JSON (`{title, detail}`) as a TaskgateError. */
function errorAnswer(res: Response, body: unknown, dialect: Dialect): TaskgateError {
  const env = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const problem = replicate.parseError(body);
  const code = typeof env?.code === 'string' ? env.code : res.status === 401 ? 'invalid_token' : res.status === 404 ? 'not_found' : 'http_error';
  const message = typeof env?.message === 'string' ? env.message : problem?.detail ?? (typeof body === 'string' && body ? body.slice(0, 200) : res.statusText);
  return new TaskgateError({
    code, status: res.status, message, dialect, body, traceId: res.headers.get('x-trace-id'), requestId: res.headers.get('x-request-id'),
    retryable: res.status === 429 || res.status >= 500,
  });
}

export interface ListedTask {
  id: string;
  service: string | null;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  created_at: string | null;
  outputs: string[];
  error: string | null;
}

export interface TaskPage {
  tasks: ListedTask[];
  /** Pass as `--cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

const STATUS: Record<replicate.PredictionStatus, ListedTask['status']> = {
  starting: 'queued', processing: 'running', succeeded: 'succeeded', failed: 'failed', canceled: 'cancelled',
};

function listed(p: replicate.Prediction): ListedTask {
  return { id: p.id, service: p.model, status: STATUS[p.status], created_at: p.createdAt, outputs: replicate.outputUrls(p.output), error: p.error };
}

/** The `cursor` of a page's `next` URL (the gateway's own origin may differ from ours behind a proxy). */
function cursorOf(next: string | null): string | null {
  if (!next) return null;
  try {
    return new URL(next).searchParams.get('cursor');
  } catch {
    return null;
  }
}

/**
 * The token owner's recent tasks, newest first: `limit` of them from `cursor` on, read from the
 * Replicate dialect's `GET /v1/predictions` (pages of 100, followed as far as needed).
 */
export async function listTasks(conn: Connection, limit: number, cursor: string | null): Promise<TaskPage> {
  const endpoint = { baseUrl: dialectBase(conn.url, 'replicate'), apiKey: conn.token };
  const tasks: ListedTask[] = [];
  let from = cursor;
  let more = true;
  while (tasks.length < limit + 1 && more) {
    const url = from === null ? null : `${endpoint.baseUrl}/predictions?cursor=${encodeURIComponent(from)}`;
    const body = await attempt(conn, 'replicate', { kind: 'endpoint', path: '/v1/predictions' }, () => read(replicate.listRequest(endpoint, url), 'replicate'));
    const page = replicate.parsePage(body);
    if (!page) throw new CliError('the gateway answered GET /v1/predictions with something that is not a list of predictions');
    tasks.push(...page.results.map(listed));
    from = cursorOf(page.next);
    more = from !== null;
  }
  const shown = tasks.slice(0, limit);
  const hasMore = tasks.length > limit || more;
  return { tasks: shown, next_cursor: hasMore && shown.length > 0 ? shown[shown.length - 1]!.id : null };
}

export interface Balance {
  balance: number;
  held: number;
  used: number;
}

/** `GET /v1/account/balance`: the token owner's credits. */
export async function balance(conn: Connection): Promise<Balance> {
  const req: ProtocolRequest = { method: 'GET', url: `${conn.url}/v1/account/balance`, headers: { authorization: `Bearer ${conn.token}` } };
  const body = await attempt(conn, 'task-api', { kind: 'endpoint', path: '/v1/account/balance' }, () => read(req, 'task-api'));
  const b = body as Partial<Balance> | null;
  if (typeof b?.balance !== 'number' || typeof b.held !== 'number' || typeof b.used !== 'number') {
    throw new CliError('the gateway answered GET /v1/account/balance with something that is not a balance');
  }
  return { balance: b.balance, held: b.held, used: b.used };
}
