/**
 * `urls.stream`: a prediction's server-sent events, as Replicate sends them — `logs` (each new
 * provider log line, plain text), `output` (each output file URL, plain text, once the prediction
 * succeeded), `error` (`{"detail": …}` when it failed) and last `done` (`{}`, or
 * `{"reason": "canceled" | "error"}`), then the stream closes.
 *
 * Replicate's stream URLs are capability URLs: the `replicate` client fetches them without the
 * Authorization header. Ours carry a per-prediction random 192-bit key (kept in the task's meta,
 * never rendered elsewhere); a request with a valid token of the owner needs no key.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TaskService } from '../../core/task-service.js';
import type { Task } from '../../core/types.js';
import { isJsonObject, isTerminal } from '../../core/types.js';
import type { FileLinks } from '../../http/file-links.js';
import { outputOf } from './render.js';

/** Comment lines keep idle connections (and proxies in between) open while a prediction waits. */
const HEARTBEAT_MS = 15_000;

export function newStreamKey(): string {
  return randomBytes(24).toString('base64url');
}

/** The stream URL of a task created through this dialect; null for others (they have no key). */
export function streamUrl(task: Task, apiRoot: string): string | null {
  const key = task.meta.stream_key;
  if (typeof key !== 'string') return null;
  return `${apiRoot}/predictions/${task.id}/stream?key=${encodeURIComponent(key)}`;
}

/** The secret of a `key` query parameter; null when absent or malformed. */
export function parseStreamKey(query: unknown): string | null {
  const key = isJsonObject(query) ? query.key : undefined;
  return typeof key === 'string' && key.length > 0 && key.length <= 256 ? key : null;
}

/** True if `secret` is the task's stream key (compared in constant time). */
export function keyMatches(task: Task, secret: string): boolean {
  const key = task.meta.stream_key;
  if (typeof key !== 'string') return false;
  const a = Buffer.from(key);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface StreamOptions {
  tasks: TaskService;
  task: Task;
  /** Signs output file URLs under the gateway's base URL. */
  links: FileLinks;
  shutdown: AbortSignal;
}

/** Answers `text/event-stream` and follows the task until it is done, the client leaves or shutdown. */
export function streamPrediction(req: FastifyRequest, reply: FastifyReply, opts: StreamOptions): FastifyReply {
  const { tasks, task } = opts;
  const out = new PassThrough();
  const stop = new AbortController();
  out.on('close', () => stop.abort()); // the client went away (Fastify destroys the stream)
  const signal = AbortSignal.any([stop.signal, opts.shutdown]);

  let seq = 0;
  const write = (text: string): void => {
    if (!out.destroyed && !out.writableEnded) out.write(text);
  };
  const send = (event: string, data: string): void => {
    const lines = data.split(/\r?\n/).map((l) => `data: ${l}`).join('\n');
    write(`event: ${event}\nid: ${++seq}\n${lines}\n\n`);
  };

  let logsSent = 0;
  let finished = false;
  const emit = async (t: Task): Promise<void> => {
    if (finished) return;
    const logs = await tasks.logs(t);
    for (const line of logs.slice(logsSent)) send('logs', line.message);
    logsSent = Math.max(logsSent, logs.length);
    if (!isTerminal(t.state) || finished) return;
    finished = true;
    if (t.state === 'succeeded') {
      const output = outputOf(t, opts.links);
      for (const url of Array.isArray(output) ? output : [output]) if (typeof url === 'string') send('output', url);
      send('done', '{}');
    } else if (t.state === 'failed') {
      send('error', JSON.stringify({ detail: t.error?.message ?? 'Prediction failed' }));
      send('done', JSON.stringify({ reason: 'error' }));
    } else {
      send('done', JSON.stringify({ reason: 'canceled' }));
    }
    stop.abort(); // ends the watch at once
  };

  // States are rendered one after another, so events leave in the order the task changed.
  let chain: Promise<void> = Promise.resolve();
  const onState = (t: Task): void => {
    chain = chain.then(() => emit(t)).catch((err: unknown) => req.log.error({ err, task_id: t.id }, 'prediction stream event failed'));
  };

  const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  const follow = async (): Promise<void> => {
    write(': stream open\n\n'); // sends the headers now, before the first event
    onState(task);
    if (!isTerminal(task.state) && !signal.aborted) {
      const watching = tasks.watch(task, onState, signal);
      // A change between the caller's read and the watch starting is caught by reading again.
      const fresh = await tasks.get(task.ownerId, task.id);
      if (fresh) onState(fresh);
      await watching;
    }
    await chain;
  };
  void follow()
    .catch((err: unknown) => req.log.error({ err, task_id: task.id }, 'prediction stream failed'))
    .finally(() => {
      clearInterval(heartbeat);
      if (!out.destroyed) out.end();
    });

  return reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache, no-transform')
    .header('x-accel-buffering', 'no')
    .send(out);
}
