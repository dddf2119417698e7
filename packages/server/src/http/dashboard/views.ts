/**
 * What the dashboard's API routes (docs/dashboard-api.md) answer about tasks: one summary shape
 * for the list, the CSV export and the live stream, so every view of a task agrees.
 */
import type { JsonObject, Task } from '../../core/types.js';
import { isTerminal } from '../../core/types.js';
import { iso } from '../admin-views.js';

/**
 * Whose data a dashboard route shows: the operator's (admin token, every account) or one
 * account's (any of its tokens).
 */
export type DashboardScope = { kind: 'admin' } | { kind: 'account'; accountId: string };

/** Whether `scope` may see a task of `ownerId`. */
export const inScope = (scope: DashboardScope, ownerId: string): boolean => scope.kind === 'admin' || scope.accountId === ownerId;

/** A task as the list, the CSV export and the live stream show it; `channel` is the relay channel it went to. */
export function taskSummary(task: Task, channel: string | null): JsonObject {
  return {
    id: task.id,
    account_id: task.ownerId,
    service: task.service,
    dialect: task.dialect,
    state: task.state,
    channel,
    progress: task.progress,
    price: task.price,
    attempts: task.attempts,
    error: task.error ? { code: task.error.code, message: task.error.message } : null,
    created_at: iso(task.createdAt),
    started_at: iso(task.startedAt),
    finished_at: iso(task.finishedAt),
    duration_ms: isTerminal(task.state) && task.finishedAt !== null ? task.finishedAt - task.createdAt : null,
  };
}
