/**
 * The status stream (*beyond* the seed): `GET …/requests/{id}/status/stream` answers
 * `text/event-stream` with one `data:` event holding the status body now, then one per change of
 * the task (start, progress, finish), and closes after the COMPLETED event. Like fal's, each event
 * carries only the log lines that are new since the previous event (the fal client accumulates
 * them). The stream also ends when the client goes away or the gateway shuts down.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TaskService } from '../../core/task-service.js';
import type { JsonObject, Task, TaskLog } from '../../core/types.js';
import { isTerminal } from '../../core/types.js';

/** Comment lines keep idle connections (and proxies in between) open while a task waits. */
const HEARTBEAT_MS = 10_000;

export interface StreamOptions {
  tasks: TaskService;
  task: Task;
  /** Renders a state of the task with the given (new) log lines; null when logs are not wanted. */
  render(task: Task, logs: TaskLog[] | null): Promise<JsonObject>;
  wantLogs: boolean;
  shutdown: AbortSignal;
}

export async function streamStatus(req: FastifyRequest, reply: FastifyReply, opts: StreamOptions): Promise<void> {
  const { tasks, task } = opts;
  reply.hijack();
  const raw = reply.raw;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = String(value);
  raw.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });

  const gone = new AbortController();
  const onClose = (): void => gone.abort();
  raw.on('close', onClose);
  const signal = AbortSignal.any([gone.signal, opts.shutdown]);
  const open = (): boolean => !raw.writableEnded && !raw.destroyed;
  const heartbeat = setInterval(() => {
    if (open()) raw.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();

  let logsSent = 0;
  let chain: Promise<void> = Promise.resolve();
  // Events are rendered one after another, so they leave in the order the task changed.
  const send = (t: Task): void => {
    chain = chain
      .then(async () => {
        if (!open()) return;
        let fresh: TaskLog[] | null = null;
        if (opts.wantLogs) {
          const all = await tasks.logs(t);
          fresh = all.slice(logsSent);
          logsSent = all.length;
        }
        const body = await opts.render(t, fresh);
        if (open()) raw.write(`data: ${JSON.stringify(body)}\n\n`);
      })
      .catch((err: unknown) => req.log.error({ err, task_id: t.id }, 'status stream event failed'));
  };

  try {
    send(task);
    if (!isTerminal(task.state)) await tasks.watch(task, send, signal);
    await chain;
  } finally {
    clearInterval(heartbeat);
    raw.off('close', onClose);
    if (open()) raw.end();
  }
}
