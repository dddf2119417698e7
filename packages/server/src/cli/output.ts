/** What the client commands print: aligned lines for people, one JSON document with `--json`. */
import type { Task } from '@taskgate/client';
import type { Balance, TaskPage } from './connection.js';

/** Writes `text` to stdout and resolves once it is handed to the OS (before a process.exit). */
export function out(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(text, () => resolve()));
}

export function printJson(value: unknown): Promise<void> {
  return out(`${JSON.stringify(value, null, 2)}\n`);
}

/** The neutral task as `--json` prints it (the SDK's shape; `raw` is the dialect's wire body). */
export function taskJson(task: Task, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: task.id, service: task.service, status: task.status, progress: task.progress, queuePosition: task.queuePosition,
    outputs: task.outputs, error: task.error, ...extra, raw: task.raw,
  };
}

const pct = (p: number): string => `${Math.round(p * 100)}%`;

/** `running (40%)`, `queued (position 2)`, `failed: api_error: …`. */
export function statusText(task: Task): string {
  if (task.status === 'running' && task.progress !== null) return `running (${pct(task.progress)})`;
  if (task.status === 'queued' && task.queuePosition !== null) return `queued (position ${task.queuePosition})`;
  if (task.error && task.status !== 'succeeded') {
    return task.error.code === task.status ? `${task.status}: ${task.error.message}` : `${task.status}: ${task.error.code}: ${task.error.message}`;
  }
  return task.status;
}

function rows(pairs: [string, string][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('');
}

export function taskText(task: Task): string {
  const pairs: [string, string][] = [['id', task.id]];
  if (task.service) pairs.push(['service', task.service]);
  pairs.push(['status', statusText(task)]);
  task.outputs.forEach((o, i) => pairs.push([i === 0 ? 'outputs' : '', o.contentType ? `${o.url} (${o.contentType})` : o.url]));
  return rows(pairs);
}

export function pageText(page: TaskPage, limit: number): string {
  if (page.tasks.length === 0) return 'no tasks\n';
  const table = page.tasks.map((t) => [t.id, t.status, t.service ?? '-', t.created_at ?? '-']);
  const widths = [0, 1, 2].map((i) => Math.max(...table.map((r) => r[i]!.length)));
  const lines = table.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ').trimEnd());
  if (page.next_cursor) lines.push(`more: taskgate tasks --limit ${limit} --cursor ${page.next_cursor}`);
  return `${lines.join('\n')}\n`;
}

export function balanceText(b: Balance): string {
  return rows([['balance', String(b.balance)], ['held', String(b.held)], ['used', String(b.used)]]);
}
