/**
 * Local file storage for provider outputs, under `<data>/files/<key>/<name>`. The key is 128 random
 * bits, so a file URL is unguessable; signed, expiring URLs come later.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { basename, join } from 'node:path';
import type { FileSink } from '../core/ports.js';

export const FILES_ROUTE = '/files';

/** A file too long for the cap it was written under. */
export class FileTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`file longer than ${maxBytes} bytes`);
    this.name = 'FileTooLargeError';
  }
}

/** `/files/<32 hex>/<safe name>`, as `write` and `writeStream` return paths. */
const STORED_PATH = new RegExp(`^${FILES_ROUTE}/([0-9a-f]{32})/([A-Za-z0-9._-]+)$`);

export function createFileSink(root: string): FileSink {
  async function place(name: string): Promise<{ key: string; safe: string; dir: string }> {
    const key = randomBytes(16).toString('hex');
    const safe = basename(name).replace(/[^A-Za-z0-9._-]/g, '_') || 'file';
    const dir = join(root, key);
    await mkdir(dir, { recursive: true });
    return { key, safe, dir };
  }
  return {
    async read(path, maxBytes) {
      const m = STORED_PATH.exec(path);
      if (!m || m[2]!.startsWith('.')) throw new Error(`not a stored file path: ${path}`);
      const handle = await open(join(root, m[1]!, m[2]!), 'r');
      try {
        const { size } = await handle.stat();
        if (size > maxBytes) throw new FileTooLargeError(maxBytes);
        return await handle.readFile();
      } finally {
        await handle.close();
      }
    },
    async write(name, contentType, data) {
      const { key, safe, dir } = await place(name);
      await writeFile(join(dir, safe), data);
      return { path: `${FILES_ROUTE}/${key}/${safe}`, bytes: data.length, contentType };
    },
    async writeStream(name, contentType, data, maxBytes) {
      const { key, safe, dir } = await place(name);
      // Written under a dot-name (never served: dotfiles are denied) and renamed when complete.
      const partial = join(dir, `.${safe}.part`);
      let bytes = 0;
      const cap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          done(bytes > maxBytes ? new FileTooLargeError(maxBytes) : null, chunk);
        },
      });
      try {
        await pipeline(data, cap, createWriteStream(partial));
        await rename(partial, join(dir, safe));
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      return { path: `${FILES_ROUTE}/${key}/${safe}`, bytes, contentType };
    },
  };
}
