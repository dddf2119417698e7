/**
 * Local file storage for provider outputs, under `<data>/files/<key>/<name>`. The key is 128 random
 * bits; the links handed out are also signed and expire (http/file-links.ts).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
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

/** The key and name of a stored file's path, or null if it is not one. */
export function parseStoredPath(path: string): { key: string; name: string } | null {
  const m = STORED_PATH.exec(path);
  if (!m || m[2]!.startsWith('.')) return null;
  return { key: m[1]!, name: m[2]! };
}

export function createFileSink(root: string): FileSink {
  const located = (path: string): string | null => {
    const parsed = parseStoredPath(path);
    return parsed ? join(root, parsed.key, parsed.name) : null;
  };
  async function place(name: string): Promise<{ key: string; safe: string; dir: string }> {
    const key = randomBytes(16).toString('hex');
    const safe = basename(name).replace(/[^A-Za-z0-9._-]/g, '_') || 'file';
    const dir = join(root, key);
    await mkdir(dir, { recursive: true });
    return { key, safe, dir };
  }
  return {
    async exists(path) {
      const file = located(path);
      return file !== null && (await stat(file).then((s) => s.isFile(), () => false));
    },
    async remove(path) {
      const parsed = parseStoredPath(path);
      if (!parsed) return null;
      const bytes = await stat(join(root, parsed.key, parsed.name)).then((s) => s.size, () => null);
      // The key's directory holds this one file (and maybe a partial of it): it goes whole.
      await rm(join(root, parsed.key), { recursive: true, force: true });
      return bytes;
    },
    async read(path, maxBytes) {
      const file = located(path);
      if (!file) throw new Error(`not a stored file path: ${path}`);
      const handle = await open(file, 'r');
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
