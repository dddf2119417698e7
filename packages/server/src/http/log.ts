/**
 * The gateway's log serializers. Every URL a log line carries — the request line of each request
 * (at debug) and any `url` field — has its query values and userinfo redacted: stream links carry
 * their key in the query (`?key=…`), fal's `?fal_webhook=` carries a callback URL that may hold a
 * password and a signature.
 */
import type { FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import { redactUrl } from '../core/redact.js';

export const logSerializers = {
  req: (req: FastifyRequest) => ({
    method: req.method,
    url: redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  }),
  url: (url: unknown) => (typeof url === 'string' ? redactUrl(url) : url),
};

/** `base` with the gateway's serializers: what the gateway and its workers log through. */
export function gatewayLogger(base: Logger): Logger {
  return base.child({}, { serializers: logSerializers });
}

/** `json` or `pretty`: what `auto` means for this output (pretty on a terminal). */
export function resolveLogFormat(format: GatewayConfig['logFormat'], out: { isTTY?: boolean } = process.stdout): 'json' | 'pretty' {
  return format === 'auto' ? (out.isTTY ? 'pretty' : 'json') : format;
}

/**
 * The process's logger on stdout: JSON lines, or pino's own pretty printer (synchronous, so no
 * line is lost at exit), one line per entry with its fields — trace_id, task_id … — appended.
 * The printer is loaded only when used.
 */
export async function createLogger(config: Pick<GatewayConfig, 'logLevel' | 'logFormat'>): Promise<Logger> {
  if (resolveLogFormat(config.logFormat) === 'json') return pino({ level: config.logLevel });
  const { default: pinoPretty } = await import('pino-pretty');
  const stream = pinoPretty({ sync: true, singleLine: true, colorize: Boolean(process.stdout.isTTY), translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return pino({ level: config.logLevel }, stream);
}
