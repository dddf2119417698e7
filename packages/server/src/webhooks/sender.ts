/**
 * One HTTP attempt of a webhook: POST the body, read at most `maxResponseBytes` of the answer,
 * never follow a redirect, give up after `timeoutMs` (headers and body together).
 *
 * Unless private callbacks are allowed, the connection's own DNS lookup refuses every address that
 * is not public unicast, and the gateway host's own addresses (ssrf.ts), so the address checked is
 * the address connected to: a name that resolved to a public address at create time and to 127.0.0.1 now (DNS
 * rebinding) is refused here. IP-literal hosts, which never reach a lookup, are checked first.
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import { BlockedAddressError, isBlockedAddress, resolveAllowed } from './ssrf.js';

export interface SenderSettings {
  timeoutMs: number;
  allowPrivateCallbacks: boolean;
  maxResponseBytes: number;
}

/** What one attempt got: a status (any, 3xx included) or an error (no response). */
export interface SendResult {
  statusCode: number | null;
  /** Raw `Retry-After` of the answer, if any. */
  retryAfter: string | null;
  /** Network error, timeout or refused address; for non-2xx answers, `HTTP <code>` and a body excerpt. */
  error: string | null;
  latencyMs: number;
  /** Response body bytes read (at most the cap). */
  bytesRead: number;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `net.connect` lookup that resolves like dns.lookup but refuses blocked addresses. */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  resolveAllowed(hostname).then(
    (addresses) => {
      const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
      if (wanted.length === 0) {
        callback(Object.assign(new Error(`callback host ${hostname} has no IPv${options.family} address`), { code: 'ENOTFOUND' }), '');
      } else if (options.all) {
        callback(null, wanted);
      } else {
        callback(null, wanted[0]!.address, wanted[0]!.family);
      }
    },
    (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), ''),
  );
}

/** Refuses a URL whose host is a blocked IP literal (names are checked at connect). */
export function checkLiteralHost(url: URL): void {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) && isBlockedAddress(host)) throw new BlockedAddressError(url.hostname, host);
}

const EXCERPT_CHARS = 200;

export class WebhookSender {
  private readonly agent: Agent;

  constructor(private readonly settings: SenderSettings) {
    this.agent = new Agent({
      maxRedirections: 0,
      // Backstops only: the overall timer in send() (headers and body together) fires first.
      headersTimeout: settings.timeoutMs + 1000,
      bodyTimeout: settings.timeoutMs + 1000,
      connect: {
        timeout: settings.timeoutMs,
        ...(settings.allowPrivateCallbacks ? {} : { lookup: guardedLookup }),
      },
    });
  }

  /** One POST; never throws (every failure is a result). `signal` aborts it (worker stopping, lease lost). */
  async send(url: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`timed out after ${this.settings.timeoutMs} ms`)), this.settings.timeoutMs);
    const onAbort = (): void => timeout.abort(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const elapsed = (): number => Math.round(performance.now() - started);
    let statusCode: number | null = null;
    let retryAfter: string | null = null;
    let bytesRead = 0;
    let kept = 0;
    try {
      const target = new URL(url);
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`callback URL scheme ${target.protocol} is not http(s)`);
      if (!this.settings.allowPrivateCallbacks) checkLiteralHost(target);
      const res = await request(target, { method: 'POST', headers, body, dispatcher: this.agent, signal: timeout.signal });
      statusCode = res.statusCode;
      const ra = res.headers['retry-after'];
      retryAfter = (Array.isArray(ra) ? ra[0] : ra) ?? null;
      const chunks: Buffer[] = [];
      const cap = this.settings.maxResponseBytes;
      if (bytesRead >= cap) res.body.destroy();
      else {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          const room = cap - bytesRead;
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          bytesRead += part.length;
          if (kept < EXCERPT_CHARS * 4) {
            chunks.push(part);
            kept += part.length;
          }
          if (bytesRead >= cap) {
            res.body.destroy(); // the rest is never read; the connection is closed
            break;
          }
        }
      }
      const ok = statusCode >= 200 && statusCode < 300;
      return { statusCode, retryAfter, error: ok ? null : httpError(statusCode, chunks), latencyMs: elapsed(), bytesRead };
    } catch (err) {
      const reason = timeout.signal.aborted && timeout.signal.reason instanceof Error ? timeout.signal.reason : err;
      const error = describe(reason);
      // An answer whose body then failed (or timed out) still counts as that answer.
      if (statusCode !== null && statusCode >= 200 && statusCode < 300) {
        return { statusCode, retryAfter, error: null, latencyMs: elapsed(), bytesRead };
      }
      return { statusCode, retryAfter, error: statusCode === null ? error : `HTTP ${statusCode}; ${error}`, latencyMs: elapsed(), bytesRead };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

function httpError(status: number, chunks: Buffer[]): string {
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
  if (!text) return `HTTP ${status}`;
  return `HTTP ${status}: ${text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS)}…` : text}`;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const cause = err.cause instanceof Error ? `: ${describe(err.cause)}` : '';
  const text = `${code && !err.message.includes(code) ? `${code} ` : ''}${err.message}${cause}`;
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
