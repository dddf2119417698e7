/**
 * URLs fit for a log line or a printed configuration: a URL keeps its scheme, host and path, but
 * its userinfo, query values and fragment are replaced by "[redacted]". Callback URLs carry
 * credentials (`http://user:password@…`), signed URLs and stream links carry keys in the query
 * (`?sig=…`, `?key=…`), so no logged or printed URL keeps either.
 */

export const REDACTED = '[redacted]';

function redactQuery(search: string): string {
  if (search === '' || search === '?') return search;
  return `?${search
    .slice(1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      return eq < 0 ? REDACTED : `${part.slice(0, eq)}=${REDACTED}`;
    })
    .join('&')}`;
}

/**
 * A URL with its userinfo and query values (and fragment) redacted; other text unchanged. Takes
 * absolute URLs and request targets (`/v1/x?key=…`, as in a request log line).
 */
export function redactUrl(text: string): string {
  if (text.startsWith('/')) {
    const hash = text.indexOf('#');
    const bare = hash < 0 ? text : text.slice(0, hash);
    const q = bare.indexOf('?');
    const redacted = q < 0 ? bare : bare.slice(0, q) + redactQuery(bare.slice(q));
    return hash < 0 ? redacted : `${redacted}#${REDACTED}`;
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  const hasUserinfo = url.username !== '' || url.password !== '' || /^[^/]*\/\/[^/?#]*@/.test(text);
  if (!hasUserinfo && url.search === '' && url.hash === '') return text;
  return `${url.protocol}//${hasUserinfo ? `${REDACTED}@` : ''}${url.host}${url.pathname}${redactQuery(url.search)}${url.hash === '' ? '' : `#${REDACTED}`}`;
}
