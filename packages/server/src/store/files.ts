/**
 * Local file storage for provider outputs, under `<data>/files/<key>/<name>`. The key is 128 random
 * bits, so a file URL is unguessable; signed, expiring URLs come later.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { FileSink } from '../core/ports.js';

export const FILES_ROUTE = '/files';

export function createFileSink(root: string): FileSink {
  return {
    async write(name, contentType, data) {
      const key = randomBytes(16).toString('hex');
      const safe = basename(name).replace(/[^A-Za-z0-9._-]/g, '_') || 'file';
      await mkdir(join(root, key), { recursive: true });
      await writeFile(join(root, key, safe), data);
      return { path: `${FILES_ROUTE}/${key}/${safe}`, bytes: data.length, contentType };
    },
  };
}
