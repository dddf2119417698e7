/**
 * The gateway's log serializers. Every URL a log line carries — the request line of each request
 * (at debug) and any `url` field — has its query values and userinfo redacted: stream links carry
 * their key in the query (`?key=…`), fal's `?fal_webhook=` carries a callback URL that may hold a
 * password and a signature.
 */
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
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
