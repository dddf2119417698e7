/** The bench's own requests to the servers (setup and sanity checks), outside the measured load. */
import type { ServerChild } from './child.js';

export const CREATE_BODY = JSON.stringify({ prompt: 'a cat sitting on a table', async: true });

export const authHeaders = (token: string): Record<string, string> => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });

export async function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch { /* reported by the caller */ }
  return { status: res.status, json };
}

/** Creates `count` tasks (10 at a time) and returns their ids; fails on any non-200. */
export async function createTasks(gw: ServerChild, headers: Record<string, string>, count: number): Promise<string[]> {
  const ids: string[] = [];
  const one = async (): Promise<void> => {
    const { status, json } = await post(`${gw.info.url}/v1/midjourney/imagine`, headers, CREATE_BODY);
    const id = (json as { task_id?: unknown } | null)?.task_id;
    if (status !== 200 || typeof id !== 'string') throw new Error(`create answered ${status}: ${JSON.stringify(json)}`);
    ids.push(id);
  };
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (ids.length < count) await one();
  }));
  return ids.slice(0, count);
}

export async function check(name: string, url: string, headers: Record<string, string>, body: string): Promise<void> {
  const { status, json } = await post(url, headers, body);
  if (status !== 200 || typeof json !== 'object' || json === null) {
    throw new Error(`sanity check ${name} failed: ${status} ${JSON.stringify(json)}`);
  }
}
