/**
 * Saves a finished task's outputs into a directory as `<taskid>-<n>.<ext>` (n from 1; the
 * extension from the content type, else from the URL). Each file is streamed to `<name>.part` and
 * renamed once complete, so a file with the final name is always whole. Result URLs are
 * capability URLs: no token is sent with them (they may point at another host).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Task, TaskOutput } from '@taskgate/client';
import { CliError } from './errors.js';
import { redactUrl } from '../core/redact.js';

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png', 'image/jpeg': 'jpg', 'image/jpg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif', 'image/svg+xml': 'svg',
  'audio/wav': 'wav', 'audio/wave': 'wav', 'audio/x-wav': 'wav', 'audio/mpeg': 'mp3', 'audio/mp4': 'm4a', 'audio/ogg': 'ogg', 'audio/flac': 'flac',
  'video/mp4': 'mp4', 'video/webm': 'webm', 'video/quicktime': 'mov',
  'application/json': 'json', 'text/plain': 'txt', 'application/zip': 'zip', 'model/gltf-binary': 'glb',
};

const DOWNLOAD_TIMEOUT_MS = 300_000;

/** The extension for a content type (`image/png; charset=…` → png), else the URL path's, else `bin`. */
export function extensionFor(contentType: string | null | undefined, url: string): string {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type && EXTENSIONS[type]) return EXTENSIONS[type];
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // not a URL: use it as a path
  }
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(path.split('/').pop() ?? '')?.[1];
  return ext ? ext.toLowerCase() : 'bin';
}

async function saveOne(task: Task, output: TaskOutput, n: number, dir: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(output.url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  } catch (err) {
    throw new CliError(`could not download output ${n} of task ${task.id} (${redactUrl(output.url)}): ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!res.ok || !res.body) {
    throw new CliError(`could not download output ${n} of task ${task.id} (${redactUrl(output.url)}): HTTP ${res.status}`);
  }
  const path = join(dir, `${task.id}-${n}.${extensionFor(output.contentType ?? res.headers.get('content-type'), output.url)}`);
  const part = `${path}.part`;
  try {
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(part));
    await rename(part, path);
  } catch (err) {
    await rm(part, { force: true });
    throw new CliError(`could not save output ${n} of task ${task.id} to ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return path;
}

/** Saves every output of `task` into `dir` (created if needed), in order; their paths. */
export async function saveOutputs(task: Task, dir: string, onSaved: (done: number, total: number) => void = () => {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  onSaved(0, task.outputs.length);
  for (const [i, output] of task.outputs.entries()) {
    paths.push(await saveOne(task, output, i + 1, dir));
    onSaved(paths.length, task.outputs.length);
  }
  return paths;
}
