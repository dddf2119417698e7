/**
 * Results that outlive upstream URLs: on success every upstream output file is copied into
 * taskgate's file store before the task is reported succeeded, so clients only ever see
 * taskgate's own file URLs (APIXO's expire after 24 h, Replicate's after about an hour).
 *
 * Streamed to disk (never whole in memory), capped per file, redirects not followed. The SSRF
 * guard applies to the download exactly as to callbacks (`webhooks.allowPrivateCallbacks`, the
 * same operator switch, lets it reach private addresses): a name is resolved and checked at
 * connect, so the address checked is the address connected to. Hosts of configured channel base
 * URLs are the operator's own choice and are not refused.
 *
 * An output may also be a `data:` URL holding the file in base64 (OpenAI's `b64_json` images):
 * it is decoded and written to the file store, capped by the same `maxBytes` (checked before it
 * is decoded). Nothing is fetched for it, so no guard applies.
 */
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type { FileSink } from '../../core/ports.js';
import type { OutputFile } from '../../core/types.js';
import type { UpstreamOutput } from '../../core/upstream.js';
import { UpstreamUnavailable } from '../../core/upstream.js';
import { checkLiteralHost, guardedLookup } from '../../webhooks/sender.js';

export interface OutputCopierSettings {
  /** Let downloads reach loopback, private and link-local addresses. */
  allowPrivate: boolean;
  /** Hosts (`host:port` as URL.host gives it) of the configured channels' base URLs. */
  trustedHosts: ReadonlySet<string>;
  /** Largest file copied. */
  maxBytes: number;
  /** Longest one download may take. */
  timeoutMs: number;
}

const KIND_BY_TYPE: Array<[RegExp, OutputFile['kind']]> = [[/^audio\//, 'audio'], [/^video\//, 'video']];
const TYPE_BY_EXT: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif',
  wav: 'audio/wav', mp3: 'audio/mpeg', mp4: 'video/mp4', webm: 'video/webm',
};

const EXT_BY_TYPE: Record<string, string> = Object.fromEntries(Object.entries(TYPE_BY_EXT).filter(([ext]) => ext !== 'jpeg').map(([ext, type]) => [type, ext]));
/** `data:[<type>][;params];base64,<data>`; the data is checked as base64 on its own (it may be long). */
const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*),/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function nameOf(out: UpstreamOutput, i: number): string {
  if (out.name) return out.name;
  const last = new URL(out.url).pathname.split('/').filter((p) => p !== '').pop();
  return last ? decodeURIComponent(last) : `output-${i + 1}`;
}

/** The copy as an output file; the upstream's own id of it (if any) is kept for follow-ups. */
function fileOf(saved: Pick<OutputFile, 'path' | 'bytes' | 'contentType'>, contentType: string, i: number, out: UpstreamOutput): OutputFile {
  const kind = KIND_BY_TYPE.find(([re]) => re.test(contentType))?.[1] ?? 'image';
  const file: OutputFile = { id: saved.path.split('/')[2] ?? `${i}`, kind, contentType: saved.contentType, path: saved.path, bytes: saved.bytes };
  if (out.upstreamId !== undefined) file.upstreamId = out.upstreamId;
  return file;
}

export class OutputCopier {
  private readonly guarded: Agent;
  private readonly open: Agent;

  constructor(private readonly settings: OutputCopierSettings) {
    const base = { maxRedirections: 0, headersTimeout: settings.timeoutMs, bodyTimeout: settings.timeoutMs, connect: { timeout: settings.timeoutMs } };
    this.open = new Agent(base);
    this.guarded = settings.allowPrivate ? this.open : new Agent({ ...base, connect: { ...base.connect, lookup: guardedLookup } });
  }

  /**
   * Copies every output into `files`; throws `UpstreamUnavailable` when one cannot be fetched
   * (the engine retries within the task's deadline: the upstream result is still there).
   */
  async copy(outputs: readonly UpstreamOutput[], files: FileSink, signal: AbortSignal): Promise<OutputFile[]> {
    const copied: OutputFile[] = [];
    for (const [i, out] of outputs.entries()) copied.push(await this.copyOne(out, i, files, signal));
    return copied;
  }

  private async copyOne(out: UpstreamOutput, i: number, files: FileSink, signal: AbortSignal): Promise<OutputFile> {
    if (/^data:/i.test(out.url)) return this.copyData(out, i, files);
    let url: URL;
    try {
      url = new URL(out.url);
    } catch {
      throw new UpstreamUnavailable(`output ${i + 1} has no valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UpstreamUnavailable(`output ${i + 1} is not an http(s) URL`);
    const trusted = this.settings.trustedHosts.has(url.host);
    if (!trusted && !this.settings.allowPrivate) checkLiteralHost(url);
    const res = await request(url, {
      method: 'GET', dispatcher: trusted ? this.open : this.guarded, signal: AbortSignal.any([signal, AbortSignal.timeout(this.settings.timeoutMs)]),
    }).catch((err: unknown) => {
      throw new UpstreamUnavailable(`output ${i + 1} could not be fetched: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new UpstreamUnavailable(`output ${i + 1} answered HTTP ${res.statusCode}`);
    }
    const name = nameOf(out, i);
    const header = res.headers['content-type'];
    const contentType = (out.contentType ?? (typeof header === 'string' ? header.split(';')[0]!.trim() : undefined) ?? TYPE_BY_EXT[name.split('.').pop()?.toLowerCase() ?? ''] ?? 'application/octet-stream');
    let saved: Awaited<ReturnType<FileSink['writeStream']>>;
    try {
      saved = await files.writeStream(name, contentType, Readable.from(res.body), this.settings.maxBytes);
    } catch (err) {
      throw new UpstreamUnavailable(`output ${i + 1} could not be stored: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return fileOf(saved, contentType, i, out);
  }

  /** A `data:` URL (base64): decoded and written; refused when not base64 or over `maxBytes`. */
  private async copyData(out: UpstreamOutput, i: number, files: FileSink): Promise<OutputFile> {
    const head = DATA_URL.exec(out.url.slice(0, 512));
    if (!head || !/;base64$/i.test(head[2] ?? '')) throw new UpstreamUnavailable(`output ${i + 1} is a data: URL without base64 data`);
    const encoded = out.url.slice(head[0].length);
    if (encoded.length === 0 || encoded.length % 4 !== 0 || !BASE64.test(encoded)) throw new UpstreamUnavailable(`output ${i + 1} is a data: URL whose base64 cannot be read`);
    const size = (encoded.length / 4) * 3 - (encoded.endsWith('==') ? 2 : encoded.endsWith('=') ? 1 : 0);
    if (size > this.settings.maxBytes) throw new UpstreamUnavailable(`output ${i + 1} could not be stored: file longer than ${this.settings.maxBytes} bytes`);
    const contentType = out.contentType ?? (head[1] ? head[1].toLowerCase() : 'application/octet-stream');
    const name = out.name ?? `output-${i + 1}.${EXT_BY_TYPE[contentType] ?? 'bin'}`;
    let saved: Awaited<ReturnType<FileSink['write']>>;
    try {
      saved = await files.write(name, contentType, Buffer.from(encoded, 'base64'));
    } catch (err) {
      throw new UpstreamUnavailable(`output ${i + 1} could not be stored: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return fileOf(saved, contentType, i, out);
  }

  async close(): Promise<void> {
    await this.guarded.close();
    if (this.open !== this.guarded) await this.open.close();
  }
}
