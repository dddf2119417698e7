/**
 * A small reader of server-sent events (the WHATWG `text/event-stream` format) over a `fetch`
 * response body: `event:`, `data:` (several lines joined by `\n`), `id:`; comment lines (`:`) and
 * other fields are skipped; an event is dispatched at a blank line when it has data.
 */

export interface SseEvent {
  /** `message` when the event names none. */
  event: string;
  data: string;
  id: string | null;
}

/** Yields the events of `body` until it ends; cancels the body when the consumer stops early. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | null = null;
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // A trailing \r may be the first half of a \r\n split across chunks: keep it for the next one.
      const hold = !done && buffer.endsWith('\r') ? '\r' : '';
      const lines = (hold ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
      // The last piece is an incomplete line (empty when the text ended with a line break).
      buffer = done ? '' : (lines.pop() ?? '') + hold;
      for (const line of lines) {
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') id = value;
      }
      if (done) {
        finished = true;
        return;
      }
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
