/**
 * Result files in an S3-compatible bucket (config `files.s3`), behind the same FileSink contract
 * as the local store: the paths are the same `/files/<128-bit key>/<name>`, kept as the object
 * `<prefix><key>/<name>`, and the gateway still serves them at its own signed links, streaming
 * from the bucket (http/files.ts). Credentials come from the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or the SDK's usual chain), never from the config.
 * An upload is one object written whole (PutObject, or a multipart upload for large streams), so
 * nothing is visible at the path until it is complete.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { basename } from 'node:path';
import {
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, NoSuchKey, NotFound, PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { FileSink } from '../core/ports.js';
import { FILES_ROUTE, FileTooLargeError, parseStoredPath } from './files.js';

export interface S3Settings {
  bucket: string;
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /** Prepended to every object key (e.g. `taskgate/`). */
  prefix: string;
  /** Part size of multipart uploads (bytes; S3's minimum is 5 MiB). */
  partSizeBytes: number;
}

/** A stored file as read to answer a download. */
export interface FileObject {
  /** 416: the range asked for is outside the file. */
  status: 200 | 206 | 416;
  body: Readable | null;
  contentType: string | undefined;
  contentLength: number | undefined;
  contentRange: string | undefined;
  etag: string | undefined;
  lastModified: Date | undefined;
}

/** Reads a stored file (or a byte range of it) for a download; null when there is none. */
export interface FileSource {
  get(path: string, opts: { range?: string | undefined; head: boolean }): Promise<FileObject | null>;
}

function missing(err: unknown): boolean {
  return err instanceof NoSuchKey || err instanceof NotFound || (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404);
}

export function createS3Client(s: S3Settings, env: NodeJS.ProcessEnv): S3Client {
  const id = env.AWS_ACCESS_KEY_ID;
  const secret = env.AWS_SECRET_ACCESS_KEY;
  return new S3Client({
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    forcePathStyle: s.forcePathStyle,
    ...(id && secret ? { credentials: { accessKeyId: id, secretAccessKey: secret, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } } : {}),
    // Checksums only where S3 requires them: S3-compatible stores differ in the newer ones.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function createS3FileSink(client: S3Client, s: S3Settings): FileSink & FileSource {
  const objectKey = (path: string): string | null => {
    const parsed = parseStoredPath(path);
    return parsed ? `${s.prefix}${parsed.key}/${parsed.name}` : null;
  };
  const place = (name: string): { path: string; key: string } => {
    const key = randomBytes(16).toString('hex');
    const safe = basename(name).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'file';
    return { path: `${FILES_ROUTE}/${key}/${safe}`, key: `${s.prefix}${key}/${safe}` };
  };
  const head = async (key: string): Promise<number | null> => {
    try {
      return (await client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: key }))).ContentLength ?? 0;
    } catch (err) {
      if (missing(err)) return null;
      throw err;
    }
  };
  return {
    async read(path, maxBytes) {
      const key = objectKey(path);
      if (!key) throw new Error(`not a stored file path: ${path}`);
      const size = await head(key);
      if (size === null) throw new Error(`no stored file at ${path}`);
      if (size > maxBytes) throw new FileTooLargeError(maxBytes);
      const res = await client.send(new GetObjectCommand({ Bucket: s.bucket, Key: key }));
      const bytes = Buffer.from(await res.Body!.transformToByteArray());
      if (bytes.length > maxBytes) throw new FileTooLargeError(maxBytes);
      return bytes;
    },
    async write(name, contentType, data) {
      const { path, key } = place(name);
      await client.send(new PutObjectCommand({ Bucket: s.bucket, Key: key, Body: data, ContentType: contentType, ContentLength: data.length }));
      return { path, bytes: data.length, contentType };
    },
    async writeStream(name, contentType, data, maxBytes) {
      const { path, key } = place(name);
      let bytes = 0;
      const cap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          done(bytes > maxBytes ? new FileTooLargeError(maxBytes) : null, chunk);
        },
      });
      const body = Readable.from(data).pipe(cap);
      let failed: unknown = null;
      body.on('error', (err) => {
        failed = err;
      });
      // Small files go up as one PutObject, larger ones as a multipart upload (aborted on error).
      const upload = new Upload({
        client, queueSize: 2, partSize: s.partSizeBytes, leavePartsOnError: false,
        params: { Bucket: s.bucket, Key: key, Body: body, ContentType: contentType },
      });
      try {
        await upload.done();
      } catch (err) {
        throw failed ?? err;
      }
      if (failed) {
        await client.send(new DeleteObjectCommand({ Bucket: s.bucket, Key: key })).catch(() => undefined);
        throw failed;
      }
      return { path, bytes, contentType };
    },
    async exists(path) {
      const key = objectKey(path);
      return key !== null && (await head(key)) !== null;
    },
    async remove(path) {
      const key = objectKey(path);
      if (!key) return null;
      const size = await head(key);
      if (size === null) return null;
      await client.send(new DeleteObjectCommand({ Bucket: s.bucket, Key: key }));
      return size;
    },
    async get(path, opts) {
      const key = objectKey(path);
      if (!key) return null;
      try {
        if (opts.head) {
          const h = await client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: key }));
          return { status: 200, body: null, contentType: h.ContentType, contentLength: h.ContentLength, contentRange: undefined, etag: h.ETag, lastModified: h.LastModified };
        }
        const res = await client.send(new GetObjectCommand({ Bucket: s.bucket, Key: key, ...(opts.range ? { Range: opts.range } : {}) }));
        return {
          status: res.ContentRange ? 206 : 200, body: res.Body as Readable, contentType: res.ContentType, contentLength: res.ContentLength,
          contentRange: res.ContentRange, etag: res.ETag, lastModified: res.LastModified,
        };
      } catch (err) {
        if (missing(err)) return null;
        if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 416) {
          return { status: 416, body: null, contentType: undefined, contentLength: undefined, contentRange: undefined, etag: undefined, lastModified: undefined };
        }
        throw err;
      }
    },
  };
}
