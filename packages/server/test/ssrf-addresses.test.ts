/**
 * The SSRF address classifier: private, loopback, link-local, metadata, reserved, IPv6 translation
 * forms and the host's own addresses refused; public unicast allowed. Classification only: no
 * address here is ever connected to.
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { isBlockedAddress, resolveAllowed } from '../src/webhooks/ssrf.js';

test('blocked: loopback, private, link-local, CGNAT, metadata, unspecified, multicast — in every spelling', () => {
  for (const a of [
    '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.1.1',
    '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'fd00:ec2::254', 'ff02::1',
    '::ffff:127.0.0.1', '0:0:0:0:0:ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '::7f00:1', '64:ff9b::7f00:1', 'not-an-ip',
  ]) assert.equal(isBlockedAddress(a), true, a);
});

test('blocked: IPv4-translated ::ffff:0:0:0/96 (::ffff:0:127.0.0.1), in every spelling', async () => {
  for (const a of ['::ffff:0:127.0.0.1', '::ffff:0:7f00:1', '0:0:0:0:ffff:0:7f00:1', '::FFFF:0:A9FE:A9FE', '::ffff:0:8.8.8.8']) {
    assert.equal(isBlockedAddress(a), true, a);
  }
  await assert.rejects(resolveAllowed('[::ffff:0:7f00:1]'), /::ffff:0:7f00:1, a loopback/);
});

test('blocked: 6to4 2002::/16, also wrapping 127.0.0.1 and 169.254.169.254', async () => {
  for (const a of ['2002:7f00:1::', '2002:a9fe:a9fe::', '2002:a9fe:a9fe::1', '2002:808:808::1']) assert.equal(isBlockedAddress(a), true, a);
  await assert.rejects(resolveAllowed('[2002:a9fe:a9fe::]'), /2002:a9fe:a9fe::, a loopback/);
});

test('blocked: NAT64 64:ff9b::/96 and local-use 64:ff9b:1::/48', () => {
  for (const a of ['64:ff9b::7f00:1', '64:ff9b::8.8.8.8', '64:ff9b:1::7f00:1', '64:ff9b:1::a9fe:a9fe', '64:ff9b:1:ffff::1']) {
    assert.equal(isBlockedAddress(a), true, a);
  }
});

test('blocked: Teredo 2001::/32 and IPv4-compatible ::/96, whatever they embed', () => {
  for (const a of ['2001::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '::7f00:1', '::8.8.8.8', '::808:808']) assert.equal(isBlockedAddress(a), true, a);
});

test('blocked: TEST-NET, benchmarking and other reserved ranges; IPv6 outside 2000::/3', () => {
  for (const a of ['192.0.2.10', '198.51.100.7', '203.0.113.9', '198.18.0.1', '240.0.0.1', '2001:db8::1', '3fff::1', '100::1', 'fec0::1', '4000::1']) {
    assert.equal(isBlockedAddress(a), true, a);
  }
});

test("blocked: every address of the gateway host's own interfaces, also IPv4-mapped", () => {
  const addresses = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  assert.ok(addresses.length > 0, 'the host has interface addresses');
  for (const { address, family } of addresses) {
    assert.equal(isBlockedAddress(address), true, address);
    if (family === 'IPv4') assert.equal(isBlockedAddress(`::ffff:${address}`), true, `::ffff:${address}`);
  }
});

test('blocked: an injected own address, whatever its range; its neighbours follow the normal rule', () => {
  const own = ['192.0.2.10', '93.184.215.14', '2606:4700::6810:85e5'];
  for (const a of ['192.0.2.10', '93.184.215.14', '::ffff:93.184.215.14', '::ffff:5db8:d70e', '2606:4700:0:0:0:0:6810:85e5']) {
    assert.equal(isBlockedAddress(a, own), true, a);
  }
  assert.equal(isBlockedAddress('192.0.2.11', own), true, '192.0.2.11 is TEST-NET (reserved)');
  for (const a of ['93.184.215.15', '2606:4700::6810:85e6', '8.8.8.8']) assert.equal(isBlockedAddress(a, own), false, a);
});

test('allowed: public IPv4 and IPv6 addresses, also IPv4-mapped', () => {
  for (const a of ['8.8.8.8', '93.184.215.14', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '::ffff:808:808']) {
    assert.equal(isBlockedAddress(a), false, a);
    assert.equal(isBlockedAddress(a, []), false, `${a} with no own addresses`);
  }
});

test('resolveAllowed checks IP literals without DNS and resolves localhost locally', async () => {
  assert.deepEqual(await resolveAllowed('93.184.215.14'), [{ address: '93.184.215.14', family: 4 }]);
  assert.deepEqual(await resolveAllowed('[2606:4700::1111]'), [{ address: '2606:4700::1111', family: 6 }]);
  await assert.rejects(resolveAllowed('169.254.169.254'), /metadata/);
  await assert.rejects(resolveAllowed('localhost'), /loopback/);
});
