/** The wire shapes of docs/dashboard-api.md (and the admin accounts/tokens routes it points to). */

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const TASK_STATES: readonly TaskState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export interface TaskSummary {
  id: string;
  account_id: string;
  service: string;
  dialect: string;
  state: TaskState;
  channel: string | null;
  progress: number | null;
  price: number | null;
  attempts: number;
  error: { code: string; message: string } | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface TaskPage {
  items: TaskSummary[];
  count: number;
  next_before: string | null;
}

export interface OutputFile {
  id: string;
  kind: 'image' | 'audio' | 'video';
  content_type: string;
  url: string;
  bytes: number | null;
  width: number | null;
  height: number | null;
  duration_sec: number | null;
}

export interface DeliveryAttempt {
  n: number;
  at: string;
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
}

export interface Delivery {
  id: string;
  task_id: string;
  event: string;
  url: string;
  state: string;
  attempts: number;
  next_attempt_at: string | null;
  created_at: string;
  finished_at: string | null;
  last_status: number | null;
  last_error: string | null;
  log: DeliveryAttempt[];
}

export interface LedgerEntry {
  seq: number;
  kind: string;
  amount: number;
  task_id: string | null;
  reason: string | null;
  at: string;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface TaskDetail extends TaskSummary {
  request: Json;
  /** The task as its own dialect shows it to its client (its webhook payload's shape). */
  response: Json;
  input: Json;
  trace_id: string;
  callback_url: string | null;
  output: { files: OutputFile[]; seed: number | null; data: Json } | null;
  timeline: Array<{ at: string; event: string; detail: string | null }>;
  logs: Array<{ at: string; level: string; message: string }>;
  upstream: {
    channel: string;
    submitted_at: string | null;
    polls: number;
    last_status: string | null;
    last_progress: number | null;
    next_poll_at: string | null;
  } | null;
  deliveries: Delivery[];
  ledger: LedgerEntry[];
}

export interface Account {
  id: string;
  name: string;
  created_at: string;
  disabled: boolean;
  rate_limit_rps: number | null;
  max_concurrency: number | null;
  balance?: number;
  held?: number;
  used?: number;
}

export interface Token {
  id: string;
  account_id: string;
  name: string;
  created_at: string;
  allowed_services: string[] | null;
  expires_at: string | null;
  disabled: boolean;
  rate_limit_rps: number | null;
}

/** A token as its create answers it: the only time its secret is on the wire. */
export interface CreatedToken extends Token {
  token: string;
}

export type WhoAmI =
  | { role: 'admin' }
  | { role: 'account'; account: Account; token: Token };

export interface Channel {
  name: string;
  service: string;
  protocol: string;
  priority: number;
  weight: number;
  state: 'healthy' | 'cooling';
  consecutive_failures: number;
  cool_until: string | null;
  last_error: string | null;
  in_flight: number;
  max_concurrency: number | null;
  max_requests_per_second: number | null;
}

export interface Service {
  name: string;
  kind: 'local' | 'relayed';
  mode: 'wait' | 'async';
  concurrency: number | null;
  timeout_ms: number | null;
  queued: number;
  running: number;
  aliases?: Record<string, string[]>;
  channels?: Channel[];
}

export interface StatsBucket {
  at: string;
  finished: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  error_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  spend: number;
}

export interface Stats {
  since: string;
  until: string;
  bucket_seconds: number;
  /** The answer read its cap of finished tasks: the earlier buckets are incomplete. */
  truncated?: boolean;
  buckets: StatsBucket[];
  totals: Omit<StatsBucket, 'at'>;
}

export interface List<T> {
  items: T[];
  count: number;
  next_before?: string | number | null;
}
