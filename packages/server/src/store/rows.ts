/**
 * The rows both drivers read (column names and JSON-as-text encodings are the same in SQLite and
 * Postgres) and the records they read as. Booleans are 0/1 in SQLite and real booleans in
 * Postgres; both read the same. The task row is in task-row.ts.
 */
import type { AccountRecord, TokenRecord } from '../accounts/records.js';
import type { LedgerEntry } from '../core/ports.js';
import type { DeliveryAttempt, DeliveryState, JsonObject, WebhookDelivery, WebhookEvent } from '../core/types.js';
import type { UpstreamTask } from '../core/upstream.js';

type Flag = number | boolean;
const flag = (v: Flag): boolean => v === true || v === 1;

export interface DeliveryRow {
  id: string;
  task_id: string;
  owner_id: string;
  seq: number;
  event: WebhookEvent;
  url: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: number;
  payload: string | null;
  created_at: number;
  finished_at: number | null;
  last_status: number | null;
  last_error: string | null;
}

export interface AttemptRow {
  n: number;
  at: number;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
}

export const toDelivery = (r: DeliveryRow): WebhookDelivery => ({
  id: r.id, taskId: r.task_id, ownerId: r.owner_id, seq: r.seq, event: r.event, url: r.url, state: r.state,
  attempts: r.attempts, nextAttemptAt: r.next_attempt_at, payload: r.payload, createdAt: r.created_at,
  finishedAt: r.finished_at, lastStatus: r.last_status, lastError: r.last_error,
});

export const toAttempt = (r: AttemptRow): DeliveryAttempt => ({
  n: r.n, at: r.at, statusCode: r.status_code, latencyMs: r.latency_ms, error: r.error,
});

export interface UpstreamRow {
  task_id: string;
  channel: string;
  upstream_id: string | null;
  urls: string;
  data: string;
  submitted_at: number;
  next_poll_at: number | null;
  polls: number;
  last_status: string | null;
  last_progress: number | null;
}

export function toUpstream(row: UpstreamRow): UpstreamTask {
  return {
    taskId: row.task_id,
    channel: row.channel,
    ref: row.upstream_id === null ? null : { id: row.upstream_id, urls: JSON.parse(row.urls) as Record<string, string>, data: JSON.parse(row.data) as JsonObject },
    submittedAt: row.submitted_at,
    nextPollAt: row.next_poll_at,
    polls: row.polls,
    lastStatus: row.last_status,
    lastProgress: row.last_progress,
  };
}

export interface TokenRow {
  id: string;
  account_id: string;
  name: string;
  created_at: number;
  allowed_services: string;
  expires_at: number | null;
  disabled: Flag;
  rate_limit_rps: number | null;
}

export interface AccountRow {
  owner_id: string;
  name: string;
  created_at: number;
  disabled: Flag;
  rate_limit_rps: number | null;
  max_concurrency: number | null;
}

/** A token row joined with its account's columns, prefixed `a_`. */
export type PrincipalRow = TokenRow & { [K in keyof AccountRow as `a_${K}`]: AccountRow[K] };

export const TOKEN_COLUMNS = 'k.id, k.account_id, k.name, k.created_at, k.allowed_services, k.expires_at, k.disabled, k.rate_limit_rps';
export const ACCOUNT_COLUMNS = 'a.owner_id, a.name, a.created_at, a.disabled, a.rate_limit_rps, a.max_concurrency';
export const PRINCIPAL_COLUMNS = `${TOKEN_COLUMNS}, a.owner_id AS a_owner_id, a.name AS a_name, a.created_at AS a_created_at,
  a.disabled AS a_disabled, a.rate_limit_rps AS a_rate_limit_rps, a.max_concurrency AS a_max_concurrency`;

function patterns(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === 'string') : [];
}

export const toToken = (row: TokenRow): TokenRecord => ({
  id: row.id,
  accountId: row.account_id,
  name: row.name,
  createdAt: row.created_at,
  allowedServices: patterns(row.allowed_services),
  expiresAt: row.expires_at,
  disabled: flag(row.disabled),
  rateLimitRps: row.rate_limit_rps,
});

export const toAccount = (row: AccountRow): AccountRecord => ({
  id: row.owner_id,
  name: row.name,
  createdAt: row.created_at,
  disabled: flag(row.disabled),
  rateLimitRps: row.rate_limit_rps,
  maxConcurrency: row.max_concurrency,
});

export const principalAccount = (row: PrincipalRow): AccountRecord => toAccount({
  owner_id: row.a_owner_id, name: row.a_name, created_at: row.a_created_at, disabled: row.a_disabled,
  rate_limit_rps: row.a_rate_limit_rps, max_concurrency: row.a_max_concurrency,
});

export interface EntryRow {
  seq: number;
  owner_id: string;
  task_id: string | null;
  kind: LedgerEntry['kind'];
  amount: number;
  reason: string | null;
  at: number;
}

export const toEntry = (r: EntryRow): LedgerEntry => ({
  seq: r.seq, ownerId: r.owner_id, taskId: r.task_id, kind: r.kind, amount: r.amount, reason: r.reason, at: r.at,
});
