/**
 * Upstream callbacks: each relayed task hands its upstream its own unguessable callback URL,
 *   POST {publicUrl}/v1/upstream/callbacks/{taskId}/{signature}
 * where the signature is an HMAC-SHA256 of the task id under a key kept in the store (made on
 * first start). A callback only makes the task's next poll due at once; what it says is never
 * trusted, so a forged, replayed or garbled one changes nothing (a forged one is refused, a
 * replayed one costs one extra poll). The URL is the same on every submit of a task, so an
 * idempotent resubmit sends the identical body. Without a public URL there are no callbacks:
 * polling alone finds results.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TaskService } from '../core/task-service.js';

export const CALLBACKS_PREFIX = '/v1/upstream/callbacks';
const KEY_SETTING = 'upstream_callback_key';

/** Where the key is kept (the settings table). */
export interface KeyStore {
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
}

export class CallbackSigner {
  private constructor(private readonly key: Buffer) {}

  /** The signer with the store's key, made (32 random bytes) on first use. */
  static async load(store: KeyStore): Promise<CallbackSigner> {
    let hex = await store.getSetting(KEY_SETTING);
    if (!hex) {
      hex = randomBytes(32).toString('hex');
      await store.setSetting(KEY_SETTING, hex);
    }
    return new CallbackSigner(Buffer.from(hex, 'hex'));
  }

  private sign(taskId: string): string {
    return createHmac('sha256', this.key).update(`upstream-callback:${taskId}`).digest('base64url');
  }

  /** The task's callback URL under `publicUrl`. */
  url(publicUrl: string, taskId: string): string {
    return `${publicUrl.replace(/\/+$/, '')}${CALLBACKS_PREFIX}/${encodeURIComponent(taskId)}/${this.sign(taskId)}`;
  }

  verify(taskId: string, signature: string): boolean {
    const expected = Buffer.from(this.sign(taskId));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** Largest callback body read to keep the connection (a larger one is answered unread). */
const MAX_DRAINED = 1 << 20;

async function drain(raw: IncomingMessage, max: number): Promise<void> {
  const declared = Number(raw.headers['content-length'] ?? 0);
  if (raw.complete || !(declared <= max)) return;
  let seen = 0;
  for await (const chunk of raw) {
    seen += (chunk as Buffer).length;
    if (seen > max) return;
  }
}

interface Params {
  task: string;
  sig: string;
}

/**
 * The callback route. It answers in `onRequest`, before the body is read: a valid signature
 * makes the poll due and wakes the scheduler (200); anything else is 404, as for an unknown path.
 */
export function upstreamCallbacksPlugin(deps: { signer: CallbackSigner; tasks: TaskService; wake: () => void }) {
  return async function register(app: FastifyInstance): Promise<void> {
    const answer = async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<FastifyReply> => {
      const { task, sig } = req.params;
      const known = task.length <= 200 && deps.signer.verify(task, sig) && (await deps.tasks.upstream.pollNow(task, deps.tasks.now()));
      if (known) {
        req.log.info({ task_id: task }, 'upstream callback: polling now');
        deps.wake();
        // A signed callback's body (never used) is read, so the upstream's connection stays open
        // for its next callback; the request timeout bounds a slow one.
        await drain(req.raw, MAX_DRAINED);
      }
      if (!req.raw.complete) void reply.header('connection', 'close'); // answered unread: a slow body is not waited for
      if (!known) return reply.code(404).send({ error: { code: 'not_found', message: 'No such callback' }, trace_id: req.id });
      return reply.code(200).send({ ok: true });
    };
    app.post<{ Params: Params }>('/:task/:sig', { onRequest: answer }, async () => ({ ok: true }));
  };
}
