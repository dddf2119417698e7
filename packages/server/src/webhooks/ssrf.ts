/**
 * SSRF guard for callback URLs: an address is refused if it is loopback, private, link-local,
 * carrier-grade NAT, multicast, unspecified or a cloud metadata address (IPv4, IPv6 and
 * IPv4-mapped IPv6). Checked when a task is created and again when each delivery connects, on
 * the very address the connection uses (no DNS rebinding between check and connect).
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

// One list per family: a BlockList also matches IPv4 addresses against IPv6 rules (as mapped
// addresses), so mixing them would let an IPv6 rule block every IPv4 address.
const blockedV4 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blockedV4.addSubnet(net, prefix, 'ipv4');
const blockedV6 = new BlockList();
for (const [net, prefix] of [
  // ::/96 covers :: and ::1 and the deprecated IPv4-compatible form (::7f00:1).
  ['::', 96], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['fd00:ec2::254', 128], ['64:ff9b::', 96],
] as const) blockedV6.addSubnet(net, prefix, 'ipv6');

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:1.2.3.4` or `::ffff:102:304`). */
function mappedV4(address: string): string | null {
  const dotted = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted?.[1]) return dotted[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex?.[1] || !hex[2]) return null;
  const hi = Number.parseInt(hex[1], 16);
  const lo = Number.parseInt(hex[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** True if `address` (an IP literal) must not be called back. */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blockedV4.check(address, 'ipv4');
  if (family !== 6) return true; // not an IP: refuse rather than guess
  const v4 = mappedV4(address);
  if (v4) return blockedV4.check(v4, 'ipv4');
  return blockedV6.check(address, 'ipv6');
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
