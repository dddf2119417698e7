/**
 * URLs an upstream hands out (status, result, cancel, next page …) are followed with the
 * channel's key. One that names another origin than the channel's base URL is moved onto the
 * channel's origin, path and query kept: the key is only ever sent where the operator pointed it
 * (a taskgate behind a proxy answers with its public host; its paths are the same).
 */
export function onChannelOrigin(url: string, base: string): string {
  const u = new URL(url);
  const b = new URL(base);
  return u.origin === b.origin ? url : new URL(`${u.pathname}${u.search}`, b.origin).toString();
}
