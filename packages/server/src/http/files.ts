/**
 * Result files under /files/<128-bit random key>/<name>, served from the data dir to signed,
 * unexpired links only (file-links.ts): no bearer token, so a link works in an `<img>` tag or a
 * plain download. A good link answers the file with `Cache-Control: private, max-age=` the time
 * left before it expires; an expired link is 403 saying so, a tampered one or one under an unknown
 * or retired key 403, and a path that names no file 404 `not_found` (all in the task API envelope,
 * like every path outside a dialect).
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { GatewayError } from '../core/errors.js';
import { errorBody } from '../dialects/task-api/render.js';
import type { TokenService } from '../accounts/tokens.js';
import { requireAdmin } from './auth.js';
import type { FileSource } from '../store/s3-files.js';
import type { FileUrlSigner } from './file-links.js';
import { jsonBody } from './request.js';

export interface FilesPluginOptions {
  /** Files on local disk, served by @fastify/static … */
  root: string;
  /** … or read from elsewhere (an S3 bucket, store/s3-files.ts), streamed through. */
  source?: FileSource | null;
  signer: FileUrlSigner;
  /** Whether a stored file is at this `/files/…` path (a bad link to a missing file is a 404). */
  exists: (path: string) => Promise<boolean>;
}

const REFUSED = {
  unsigned: 'File links must be signed: use the URL the API handed out (fetch the task again for a fresh one)',
  invalid: 'File link signature is invalid (altered, or signed by a key no longer in force): fetch the task again for a fresh link',
  expired: 'File link expired: fetch the task again for a fresh link',
} as const;

export function filesPlugin(opts: FilesPluginOptions) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.setNotFoundHandler((req, reply) => {
      const path = req.url.split('?')[0];
      void reply.removeHeader('cache-control');
      return reply.code(404).send(errorBody(new GatewayError('not_found', `File ${path} does not exist`), req.id));
    });
    app.addHook('onRequest', async (req, reply) => {
      if (req.is404) return;
      const path = req.url.split('?')[0]!;
      const check = await opts.signer.check(path, req.query as Record<string, unknown>);
      if (check.ok) {
        void reply.header('cache-control', `private, max-age=${check.maxAgeSeconds}`);
        return;
      }
      // A link to a file that is not there (never was, or removed) is a 404 whatever its signature;
      // nothing unsigned ever reaches the file server (which would decode `%2E` and the like).
      if (!(await opts.exists(path))) return reply.callNotFound();
      return reply.code(403).send(errorBody(new GatewayError('forbidden', REFUSED[check.reason]), req.id));
    });
    const source = opts.source;
    if (!source) {
      await app.register(fastifyStatic, { root: opts.root, prefix: '/', index: false, list: false, dotfiles: 'deny', cacheControl: false });
      return;
    }
    app.get<{ Params: { key: string; name: string } }>('/:key/:name', async (req, reply) => {
      const path = req.url.split('?')[0]!;
      const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
      const file = await source.get(path, { range, head: req.method === 'HEAD' });
      if (!file) return reply.callNotFound();
      if (file.status === 416) {
        void reply.removeHeader('cache-control');
        return reply.code(416).send(errorBody(new GatewayError('bad_request', `Range ${range ?? ''} is outside the file`), req.id));
      }
      void reply.code(file.status).header('accept-ranges', 'bytes').header('content-type', file.contentType ?? 'application/octet-stream');
      if (file.contentLength !== undefined) void reply.header('content-length', file.contentLength);
      if (file.contentRange) void reply.header('content-range', file.contentRange);
      if (file.etag) void reply.header('etag', file.etag);
      if (file.lastModified) void reply.header('last-modified', file.lastModified.toUTCString());
      if (!file.body) {
        // HEAD: the headers as they are (Fastify would set an empty body's length, 0).
        reply.hijack();
        reply.raw.writeHead(file.status, reply.getHeaders() as OutgoingHttpHeaders);
        return void reply.raw.end();
      }
      return reply.send(file.body);
    });
  };
}

/**
 * `POST /admin/files/keys/rotate` (admin token): a new signing key signs from now on; links signed
 * before keep working for `overlap_seconds` (default `files.keyOverlapSeconds`). Refused (400) when
 * the keys come from the configuration. The key itself is never shown.
 */
export function fileKeysAdminPlugin(signer: FileUrlSigner, tokens: TokenService) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', async (req) => requireAdmin(req, tokens));
    app.post('/keys/rotate', async (req) => {
      const body = req.body === undefined || req.body === '' ? {} : jsonBody(req);
      const overlap = body.overlap_seconds;
      if (overlap !== undefined && !(typeof overlap === 'number' && Number.isInteger(overlap) && overlap >= 0 && overlap <= 366 * 86_400)) {
        throw new GatewayError('bad_request', 'Field overlap_seconds must be an integer from 0 to 31622400');
      }
      if (signer.fromConfig) throw new GatewayError('bad_request', 'File signing keys come from the configuration (files.signingKeys): rotate them there');
      const { keyId, previousRetireAt } = await signer.rotate(overlap);
      req.log.info({ key_id: keyId }, 'file signing key rotated');
      return { key_id: keyId, previous_keys_valid_until: new Date(previousRetireAt).toISOString() };
    });
  };
}
