/**
 * Standard Webhooks headers for one attempt: `webhook-id` (the delivery id, stable across
 * retries), `webhook-timestamp` (Unix seconds, new per attempt) and `webhook-signature`, one
 * `v1,<base64>` per secret in force (two during a rotation's overlap), space-separated.
 */
import { Webhook } from 'standardwebhooks';

export const USER_AGENT = 'taskgate-webhooks';

/** Signers by secret (decoding a `whsec_` secret on every attempt is wasted work). */
const signers = new Map<string, Webhook>();
const MAX_SIGNERS = 1000;

function signer(secret: string): Webhook {
  let wh = signers.get(secret);
  if (!wh) {
    if (signers.size >= MAX_SIGNERS) signers.delete(signers.keys().next().value!);
    wh = new Webhook(secret);
    signers.set(secret, wh);
  }
  return wh;
}

/** The request headers of one attempt, signed with every secret in `secrets` (at least one). */
export function webhookHeaders(id: string, nowMs: number, payload: string, secrets: readonly string[]): Record<string, string> {
  if (secrets.length === 0) throw new Error('no signing secret');
  const at = new Date(Math.floor(nowMs / 1000) * 1000);
  return {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(nowMs / 1000)),
    'webhook-signature': secrets.map((s) => signer(s).sign(id, at, payload)).join(' '),
  };
}
