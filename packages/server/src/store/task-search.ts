/**
 * `TaskStore.search` as SQL, for both drivers: the same WHERE clause, written with each driver's
 * placeholders (`?` and json_each for SQLite, `$n` and ANY for Postgres). Every filter is a
 * bound parameter; only the shape of the clause varies (a few dozen shapes at most).
 */
import type { TaskFilter } from '../core/ports.js';

export interface SqlDialect {
  /** Binds `value` and returns its placeholder. */
  param(value: string | number): string;
  /** `column IN (values)`, bound as one parameter. */
  oneOf(column: string, values: readonly string[]): string;
}

/**
 * `SELECT t.*, u.channel` of the tasks matching `filter`, newest first (ids are UUID v7: by
 * creation), with the relay channel each was sent to (null for a local task).
 */
export function searchSql(filter: TaskFilter, d: SqlDialect): string {
  const where: string[] = [];
  if (filter.ownerId !== undefined) where.push(`t.owner_id = ${d.param(filter.ownerId)}`);
  if (filter.before !== undefined) where.push(`t.id < ${d.param(filter.before)}`);
  if (filter.services?.length) where.push(d.oneOf('t.service', filter.services));
  if (filter.states?.length) where.push(d.oneOf('t.state', filter.states));
  if (filter.channel !== undefined) where.push(`u.channel = ${d.param(filter.channel)}`);
  if (filter.createdFrom !== undefined) where.push(`t.created_at >= ${d.param(filter.createdFrom)}`);
  if (filter.createdTo !== undefined) where.push(`t.created_at < ${d.param(filter.createdTo)}`);
  return `SELECT t.*, u.channel AS channel FROM tasks t LEFT JOIN upstream_tasks u ON u.task_id = t.id
    ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY t.id DESC LIMIT ${d.param(filter.limit)}`;
}
