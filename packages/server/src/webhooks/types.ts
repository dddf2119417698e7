/** What the webhook engine is given: payload renderers per dialect, and its settings. */
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { Clock, WebhookStore } from '../core/ports.js';
import type { TaskService } from '../core/task-service.js';
import type { JsonObject, Task, TaskLog, WebhookEvent } from '../core/types.js';
import type { WebhookSecrets } from './secrets.js';
import type { FileLinks } from '../http/file-links.js';

/** What a renderer may read besides the task (loaded only if it asks). */
export interface RenderExtras {
  logs(): Promise<TaskLog[]>;
  /** Signs the task's file URLs under the delivery's base URL (at delivery time). */
  links: FileLinks;
}

/** Renders a task's webhook body the way its dialect's clients expect it. */
export type WebhookRenderer = (task: Task, event: WebhookEvent, base: string, extras: RenderExtras) => JsonObject | Promise<JsonObject>;

export interface WebhookDispatcherOptions {
  tasks: TaskService;
  store: WebhookStore;
  secrets: WebhookSecrets;
  /** By task.dialect; tasks of a dialect without one use `fallback`. */
  renderers: Readonly<Record<string, WebhookRenderer>>;
  fallback: WebhookRenderer;
  /** Base URL for file URLs when a task has no origin (the public URL, else the listen URL). */
  baseUrl: () => string;
  /** Signed file links under a base URL (http/file-links.ts). */
  fileLinks: (base: string) => FileLinks;
  settings: GatewayConfig['webhooks'];
  log: Logger;
  workerId: string;
  clock: Clock;
  /** Told of every attempt once recorded (metrics). */
  observe?: (attempt: AttemptReport) => void;
}

/** One recorded webhook attempt, as the dispatcher reports it. */
export interface AttemptReport {
  event: WebhookEvent;
  /** `delivered`; `retrying` (failed, another attempt is scheduled); `failed` (failed, given up). */
  result: 'delivered' | 'retrying' | 'failed';
  /** The receiver's status; null when no answer came (network error, timeout, refused address) or none was sent. */
  statusCode: number | null;
  /** From the event (the delivery's queueing) to this attempt's end, for a delivered one; else null. */
  lagSeconds: number | null;
}
