/**
 * SSRF guard for callback URLs. Checked when a task is created and again when each delivery
 * connects, on the very address the connection uses (no DNS rebinding between check and connect).
 *
 * The rule (classification by ipaddr.js, no hand-kept range lists):
 * - Not an IP literal (per `net.isIP`) or not parsable: refused.
 * - IPv4-mapped IPv6 (`::ffff:0:0/96`, e.g. `::ffff:8.8.8.8`): the embedded IPv4 address is
 *   extracted and classified as IPv4 (Node reports IPv4 peers in this form).
 * - Every other IPv6 form that embeds an IPv4 address is refused outright, whatever it embeds: a
 *   gateway has no business calling back through a translation prefix. ipaddr.js names these
 *   ranges, so they are not `unicast`: IPv4-translated `::ffff:0:0:0/96` (`rfc6145`), NAT64
 *   `64:ff9b::/96` and the local-use `64:ff9b:1::/48` (`rfc6052`), 6to4 `2002::/16` and Teredo
 *   `2001::/32`. IPv4-compatible `::/96` (`::7f00:1`), which ipaddr.js calls `unicast`, is refused
 *   by the next rule.
 * - IPv4 is allowed only if ipaddr.js classifies it `unicast`; IPv6 only if it is `unicast` and
 *   inside the global unicast space `2000::/3` (which leaves out `::/8`, hence `::/96`). So
 *   loopback, private, link-local (169.254.169.254), carrier-grade NAT, unique-local
 *   (`fd00:ec2::254`), multicast, broadcast, unspecified, documentation/TEST-NET (ipaddr.js:
 *   `reserved`), benchmarking, AS112, AMT, discard, ORCHID, segment-routing … are all refused.
 * - Cloud metadata addresses are also refused by name (belt and braces; their ranges already are).
 * - The gateway host's own addresses (every address of `os.networkInterfaces()`, both families,
 *   whatever their range, also in IPv4-mapped form) are refused, so a callback cannot reach a
 *   service bound to 0.0.0.0 on the gateway host. The list is re-read at most every
 *   `OWN_ADDRESSES_TTL_MS`, so interfaces that come and go are picked up.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import ipaddr from 'ipaddr.js';

/** How long the list of the host's own addresses is reused before `os.networkInterfaces()` is read again. */
export const OWN_ADDRESSES_TTL_MS = 5000;

/** Metadata services of cloud providers (AWS/GCP/Azure/OCI/Alibaba, AWS IPv6). */
const METADATA = ['169.254.169.254', '169.254.170.2', '192.0.0.192', '100.100.100.200', 'fd00:ec2::254'];

/** IPv6 global unicast space (RFC 4291 §2.4): nothing outside it is a public address today. */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

type Parsed = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * An IPv6 literal whose last 32 bits are written as a dotted quad, rewritten in hex groups:
 * ipaddr.js 2.x reads `::a.b.c.d` as IPv4-mapped `::ffff:a.b.c.d` (it is IPv4-compatible,
 * `::/96`), so it never sees a dotted quad. Anything else is returned unchanged.
 */
function hexTail(address: string): string {
  const m = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(%.*)?$/.exec(address);
  if (!m) return address;
  const [a, b, c, d] = [m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number];
  return `${m[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}${m[6] ?? ''}`;
}

/** Parses an IP literal; IPv4-mapped IPv6 comes back as its IPv4 address. Null if not an IP. */
function parse(address: string): Parsed | null {
  const family = isIP(address);
  if (family === 0) return null;
  let ip: Parsed;
  try {
    ip = ipaddr.parse(family === 6 ? hexTail(address) : address);
  } catch {
    return null; // e.g. a zone id ipaddr.js does not accept: refuse rather than guess
  }
  return ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? (ip as ipaddr.IPv6).toIPv4Address() : ip;
}

/** A comparable key of an address: its bytes (4 for IPv4, 16 for IPv6; a zone id is dropped). */
function key(ip: Parsed): string {
  return ip.toByteArray().join('.');
}

function keys(addresses: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const a of addresses) {
    const ip = parse(a);
    if (ip) out.add(key(ip));
  }
  return out;
}

const METADATA_KEYS = keys(METADATA);

let own: { keys: Set<string>; readAt: number } | null = null;

/** Every address of every interface of this host, both families. */
function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/**
 * The host's own addresses (as keys), re-read at most every `OWN_ADDRESSES_TTL_MS`. If reading
 * fails, the last list read is kept (and reading is retried on the next check); with no list at
 * all the error is thrown, so the check fails closed.
 */
function ownAddressKeys(): Set<string> {
  const now = performance.now();
  if (own && now - own.readAt < OWN_ADDRESSES_TTL_MS) return own.keys;
  try {
    own = { keys: keys(interfaceAddresses()), readAt: now };
  } catch (err) {
    if (!own) throw err;
  }
  return own.keys;
}

/**
 * True if `address` (an IP literal) must not be called back. `ownAddresses` replaces the host's
 * interface addresses (tests only); by default they are read from `os.networkInterfaces()`.
 */
export function isBlockedAddress(address: string, ownAddresses?: Iterable<string>): boolean {
  const ip = parse(address);
  if (!ip) return true; // not an IP: refuse rather than guess
  const k = key(ip);
  if (METADATA_KEYS.has(k)) return true;
  if ((ownAddresses === undefined ? ownAddressKeys() : keys(ownAddresses)).has(k)) return true;
  if (ip.range() !== 'unicast') return true;
  return ip.kind() === 'ipv6' && !ip.match(GLOBAL_UNICAST_V6);
}

export class BlockedAddressError extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`callback host ${host} resolves to ${address}, a loopback, private, link-local or metadata address`);
    this.name = 'BlockedAddressError';
  }
}

/**
 * Resolves `host` and refuses it if any address is blocked (or it does not resolve). Returns the
 * addresses. IP literals are checked without DNS.
 */
export async function resolveAllowed(host: string): Promise<Array<{ address: string; family: number }>> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const addresses = isIP(bare) ? [{ address: bare, family: isIP(bare) }] : await lookup(bare, { all: true, verbatim: true });
  const bad = addresses.find((a) => isBlockedAddress(a.address));
  if (bad) throw new BlockedAddressError(host, bad.address);
  if (addresses.length === 0) throw new Error(`callback host ${host} does not resolve`);
  return addresses;
}
