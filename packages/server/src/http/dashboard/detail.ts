/**
 * One task as the dashboard's task page shows it (docs/dashboard-api.md, "One task"): the summary
 * with the request, the response its client sees in its own dialect, the output with signed file
 * links, a timeline of its state changes, its log
 * lines, its upstream side, its webhook deliveries with every attempt, and its ledger entries.
 */
import type { LedgerEntry, LedgerStore, WebhookStore } from '../../core/ports.js';
import { redactUrl } from '../../core/redact.js';
import type { UpstreamTask } from '../../core/upstream.js';
import type { JsonObject, Task, TaskLog } from '../../core/types.js';
import { isTerminal } from '../../core/types.js';
import type { FileLinks } from '../file-links.js';
import { iso } from '../admin-views.js';
import { fileUrl } from '../request.js';
import { renderDelivery } from '../webhooks-api.js';
import { taskSummary } from './views.js';

/** Most deliveries shown with a task (a task has one per event it was told of). */
export const MAX_DELIVERIES = 100;

export const ledgerEntryView = (e: LedgerEntry): JsonObject => ({
  seq: e.seq, kind: e.kind, amount: e.amount, task_id: e.taskId, reason: e.reason, at: new Date(e.at).toISOString(),
});

export interface DetailSources {
  webhooks: WebhookStore;
  ledger: LedgerStore;
  logs: (task: Task) => Promise<TaskLog[]>;
  upstream: (id: string) => Promise<UpstreamTask | null>;
  /** The task as its own dialect shows it to its client now (the shape its callback carries). */
  response: (task: Task) => Promise<JsonObject>;
}

interface TimelineEvent {
  at: number;
  event: string;
  detail: string | null;
}

/** The task's life in time order: created, started, progress lines, sent upstream, ended. */
export function timeline(task: Task, logs: readonly TaskLog[], upstream: UpstreamTask | null): JsonObject[] {
  const events: TimelineEvent[] = [{ at: task.createdAt, event: 'created', detail: `${task.service} through ${task.dialect}` }];
  if (task.startedAt !== null) events.push({ at: task.startedAt, event: 'started', detail: task.attempts > 1 ? `${task.attempts} attempts` : null });
  for (const line of logs) events.push({ at: line.at, event: 'progress', detail: line.message });
  if (upstream) events.push({ at: upstream.submittedAt, event: 'upstream_submitted', detail: `channel ${upstream.channel}` });
  if (isTerminal(task.state) && task.finishedAt !== null) {
    events.push({ at: task.finishedAt, event: task.state, detail: task.error ? `${task.error.code}: ${task.error.message}` : null });
  }
  // Stable: events at the same millisecond keep the order of a task's life.
  return events.sort((a, b) => a.at - b.at).map((e) => ({ at: iso(e.at), event: e.event, detail: e.detail }));
}

export async function taskDetail(task: Task, links: FileLinks, src: DetailSources): Promise<JsonObject> {
  const [response, logs, upstream, deliveries, ledger] = await Promise.all([
    src.response(task),
    src.logs(task),
    src.upstream(task.id),
    src.webhooks.listDeliveries(task.ownerId, { taskId: task.id, limit: MAX_DELIVERIES }),
    src.ledger.taskEntries(task.id),
  ]);
  const output = task.output;
  return {
    ...taskSummary(task, upstream?.channel ?? null),
    request: task.request,
    input: task.input,
    trace_id: task.traceId,
    // The owner's own URL, but a password or signature in it is not shown.
    callback_url: task.callbackUrl === null ? null : redactUrl(task.callbackUrl),
    output: output && {
      files: output.files.map((f) => ({
        id: f.id, kind: f.kind, content_type: f.contentType, url: fileUrl(f, links), bytes: f.bytes,
        width: f.width ?? null, height: f.height ?? null, duration_sec: f.durationSec ?? null,
      })),
      seed: output.seed ?? null,
      data: output.data ?? null,
    },
    response,
    timeline: timeline(task, logs, upstream),
    logs: logs.map((l) => ({ at: iso(l.at), level: l.level, message: l.message })),
    upstream: upstream && {
      channel: upstream.channel, submitted_at: iso(upstream.submittedAt), polls: upstream.polls, last_status: upstream.lastStatus,
      last_progress: upstream.lastProgress, next_poll_at: iso(upstream.nextPollAt),
    },
    deliveries: deliveries.map((d) => renderDelivery(d, d.log)),
    ledger: ledger.map(ledgerEntryView),
  };
}
