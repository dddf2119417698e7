/** Request helpers every dialect shares: bearer tokens, the public base URL, JSON bodies. */
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import type { JsonObject, OutputFile } from '../core/types.js';
import { isJsonObject } from '../core/types.js';
import type { FileLinks } from './file-links.js';

/** The token from `Authorization: Bearer <t>` (or `Key <t>`, or a bare token); null if absent. */
export function bearerToken(req: FastifyRequest): string | null {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || header.trim() === '') return null;
  if (/^(?:Bearer|Key|Token)$/i.test(header.trim())) return null; // a scheme without a credential
  const match = /^(?:Bearer|Key|Token)\s+(.+)$/i.exec(header.trim());
  return (match?.[1] ?? header).trim();
}

/** Where clients reach this gateway: the configured public URL, else the request's own host. */
export function baseUrl(req: FastifyRequest, publicUrl: string | null): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.host}`;
}

/** Signed file links under the request's base URL. */
export function requestLinks(req: FastifyRequest, ctx: { config: { publicUrl: string | null }; fileLinks: (base: string) => FileLinks }): FileLinks {
  return ctx.fileLinks(baseUrl(req, ctx.config.publicUrl));
}

/** The absolute, signed URL of an output file (file-links.ts), fresh on every call. */
export function fileUrl(file: Pick<OutputFile, 'path'>, links: FileLinks): string {
  return links(file);
}

/** The `Idempotency-Key` header (1–255 visible ASCII characters), or undefined when absent. */
export function idempotencyKey(req: FastifyRequest): string | undefined {
  const value = req.headers['idempotency-key'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw new GatewayError('bad_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters, sent once');
  }
  return value;
}

/** The body as a JSON object, or `bad_request`. */
export function jsonBody(req: FastifyRequest): JsonObject {
  if (req.body === undefined || req.body === null || req.body === '') {
    throw new GatewayError('bad_request', 'Request body is empty; send a JSON object');
  }
  if (!isJsonObject(req.body)) throw new GatewayError('bad_request', 'Request body must be a JSON object');
  return req.body;
}
