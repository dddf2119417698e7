/**
 * The dashboard's live changes (docs/dashboard-api.md, "Live changes (SSE)"): `GET /admin/events`
 * (every account's tasks) and `GET /v1/account/events` (the caller's account's) answer
 * `text/event-stream`. Every change of a task in scope is one `event: task` with its TaskSummary;
 * a `: ping` comment comes every 15 s; a stream that cannot keep up (the socket's buffer is full)
 * skips events until it drains, then gets one `event: resync` (the dashboard reloads its list).
 *
 * One LiveEvents per gateway follows the task events for all streams: a change another node made
 * (`task:remote`, through Redis) is read once, whatever the number of streams. Streams are bounded
 * per gateway (429 beyond), and all end when the gateway shuts down. A stream whose token stops
 * being valid (disabled, rotated, expired; its account disabled) ends at the next ping.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import { LOCAL_TASK_EVENTS } from '../../core/events.js';
import type { TaskService } from '../../core/task-service.js';
import type { Task } from '../../core/types.js';
import type { DialectContext } from '../context.js';
import { bearerToken } from '../request.js';
import { scopeHook, scopeOf, type ScopeKind } from './scope.js';
import { inScope, taskSummary, type DashboardScope } from './views.js';

export const DEFAULT_PING_MS = 15_000;
export const DEFAULT_MAX_STREAMS = 100;
/** Changes waiting to be read and sent; beyond, they are dropped and every stream gets a resync. */
const MAX_PENDING = 10_000;
const RESYNC = 'event: resync\ndata: {}\n\n';
const PING = ': ping\n\n';

export interface LiveEventsOptions {
  /** How often every stream gets a `: ping` comment (default 15 s). */
  pingMs?: number;
  /** Most streams open at once on this gateway (default 100); one more is answered 429. */
  maxStreams?: number;
}

interface Stream {
  scope: DashboardScope;
  raw: ServerResponse;
  /** The socket's buffer is full: task events are skipped until it drains. */
  blocked: boolean;
  /** An event was skipped while blocked: a resync is due once it drains. */
  missed: boolean;
  /** Whether the token the stream was opened with is still good (checked at every ping). */
  valid: () => Promise<boolean>;
}

/** The task event streams of one gateway. */
export class LiveEvents {
  private readonly streams = new Set<Stream>();
  private readonly pingMs: number;
  private readonly maxStreams: number;
  private unsubscribe: (() => void) | null = null;
  private ping: NodeJS.Timeout | null = null;
  /** Changes are read and sent one after another, so every stream sees them in order. */
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private overflowed = false;
  private closed: boolean;

  constructor(
    private readonly tasks: TaskService,
    private readonly log: FastifyBaseLogger,
    shutdown: AbortSignal,
    opts: LiveEventsOptions = {},
  ) {
    this.pingMs = opts.pingMs ?? DEFAULT_PING_MS;
    this.maxStreams = opts.maxStreams ?? DEFAULT_MAX_STREAMS;
    shutdown.addEventListener('abort', () => this.closeAll(), { once: true });
    this.closed = shutdown.aborted;
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  /** Streams skipping events now because their client does not read fast enough. */
  get blocked(): number {
    let n = 0;
    for (const s of this.streams) if (s.blocked) n++;
    return n;
  }

  /** Throws too_many_requests when no stream may be opened now (checked before the answer starts). */
  admit(): void {
    if (this.streams.size >= this.maxStreams) {
      throw new GatewayError('too_many_requests', `Too many live event streams are open on this gateway (at most ${this.maxStreams}); retry later`, { retryAfter: 5 });
    }
  }

  /** Follows task changes into `raw` (its headers already sent) until the client leaves or the gateway closes. */
  add(scope: DashboardScope, raw: ServerResponse, valid: () => Promise<boolean>): void {
    if (this.closed) {
      raw.end();
      return;
    }
    const stream: Stream = { scope, raw, blocked: false, missed: false, valid };
    this.streams.add(stream);
    raw.on('close', () => this.remove(stream));
    if (this.streams.size === 1) this.start();
  }

  private remove(stream: Stream): void {
    if (!this.streams.delete(stream)) return;
    if (this.streams.size === 0) this.stop();
  }

  /** Listens to task events only while a stream is open. */
  private start(): void {
    const offs = LOCAL_TASK_EVENTS.map((event) => this.tasks.events.on(event, ({ task }) => this.enqueue(async () => task)));
    offs.push(this.tasks.events.on('task:remote', ({ id }) => this.enqueue(() => this.tasks.getUnscoped(id))));
    this.unsubscribe = () => offs.forEach((off) => off());
    this.ping = setInterval(() => {
      this.writeAll(PING);
      void this.recheck();
    }, this.pingMs);
    this.ping.unref();
  }

  /**
   * Ends the streams whose token was disabled, deleted, rotated or expired since they opened (or
   * whose account was disabled): the dashboard then reconnects, and is refused.
   */
  private async recheck(): Promise<void> {
    await Promise.all([...this.streams].map(async (stream) => {
      const ok = await stream.valid().catch((err: unknown) => {
        this.log.warn({ err }, 'live event stream: token check failed');
        return true; // a store hiccup does not end streams; the next ping checks again
      });
      if (ok) return;
      stream.raw.end();
      this.remove(stream);
    }));
  }

  private stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.ping) clearInterval(this.ping);
    this.ping = null;
  }

  private enqueue(read: () => Promise<Task | null>): void {
    if (this.pending >= MAX_PENDING) {
      this.overflowed = true;
      return;
    }
    this.pending++;
    this.chain = this.chain
      .then(async () => {
        const task = await read();
        if (task) this.send(task, await this.channelOf(task));
      })
      .catch((err: unknown) => this.log.error({ err }, 'live event failed'))
      .finally(() => {
        this.pending--;
        if (this.pending === 0 && this.overflowed) {
          this.overflowed = false;
          this.writeAll(RESYNC);
        }
      });
  }

  /** The relay channel a relayed service's task went to; null for a local service's. */
  private async channelOf(task: Task): Promise<string | null> {
    if (this.tasks.services.find(task.service)?.relay == null) return null;
    return (await this.tasks.upstream.get(task.id))?.channel ?? null;
  }

  private send(task: Task, channel: string | null): void {
    let text: string | null = null;
    for (const stream of this.streams) {
      if (!inScope(stream.scope, task.ownerId)) continue;
      text ??= `event: task\ndata: ${JSON.stringify(taskSummary(task, channel))}\n\n`;
      if (stream.blocked) stream.missed = true;
      else this.write(stream, text);
    }
  }

  private writeAll(text: string): void {
    for (const stream of this.streams) if (!stream.blocked) this.write(stream, text);
  }

  /** Writes; a full buffer blocks the stream until `drain`, which then sends one resync if events were skipped. */
  private write(stream: Stream, text: string): void {
    if (stream.raw.destroyed || stream.raw.writableEnded) return;
    if (stream.raw.write(text)) return;
    stream.blocked = true;
    stream.raw.once('drain', () => {
      stream.blocked = false;
      if (!stream.missed) return;
      stream.missed = false;
      this.write(stream, RESYNC);
    });
  }

  private closeAll(): void {
    this.closed = true;
    for (const stream of this.streams) stream.raw.end();
    this.streams.clear();
    this.stop();
  }
}

/** `GET /events`, mounted at `/admin` (kind `admin`) or `/v1/account` (kind `account`). */
export function eventsPlugin(ctx: DialectContext, kind: ScopeKind, deps: { live: LiveEvents }) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', scopeHook(ctx, kind));
    app.get('/events', async (req, reply) => {
      const scope = scopeOf(req, kind);
      deps.live.admit();
      void reply.hijack();
      // What the hooks set (x-trace-id) goes out too: Fastify no longer sends this answer.
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
      reply.raw.write(': connected\n\n'); // the headers leave now, before the first change
      const token = bearerToken(req) ?? '';
      deps.live.add(scope, reply.raw, kind === 'admin' ? () => ctx.tokens.isAdmin(token) : async () => {
        const p = await ctx.tokens.authenticate(token);
        return p !== null && !p.token.disabled && !p.account.disabled && !ctx.tokens.isExpired(p.token);
      });
    });
  };
}
