/**
 * Errors Node raises on a connection before any route runs: a request that did not arrive in time
 * (`timeouts.requestMs` / `headersMs`), oversized headers, a malformed request line. Answered in
 * the task API's envelope (the path, and so the dialect, is not known yet) and the connection is
 * closed, so a slow or broken client cannot hold a socket.
 */
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';

interface ClientError extends Error {
  code?: string;
}

function answer(status: number, message: string): string {
  const body = JSON.stringify({ error: { code: 'bad_request', message } });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export function clientErrorHandler(timeouts: { requestMs: number; headersMs: number }) {
  return (err: ClientError, socket: Socket): void => {
    // A reset connection, or one already answered, has nothing left to say.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let reply: string;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      reply = answer(
        408,
        `The request did not arrive in time (headers within ${timeouts.headersMs} ms, the whole request within ` +
          `${timeouts.requestMs} ms); the connection is closed`,
      );
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      reply = answer(431, 'Request headers are too large');
    } else {
      reply = answer(400, 'Malformed HTTP request');
    }
    if (socket.writable) socket.end(reply);
    // A peer that never reads must not keep the socket either.
    setTimeout(() => socket.destroy(), 1000).unref();
  };
}
