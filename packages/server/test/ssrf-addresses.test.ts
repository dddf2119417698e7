/** The SSRF address classifier: private, loopback, link-local, metadata refused; public allowed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBlockedAddress, resolveAllowed } from '../src/webhooks/ssrf.js';

test('blocked: loopback, private, link-local, CGNAT, metadata, unspecified, multicast — in every spelling', () => {
  for (const a of [
    '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.1.1',
    '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'fd00:ec2::254', 'ff02::1',
    '::ffff:127.0.0.1', '0:0:0:0:0:ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '::7f00:1', '64:ff9b::7f00:1', 'not-an-ip',
  ]) assert.equal(isBlockedAddress(a), true, a);
});

test('allowed: public IPv4 and IPv6 addresses, also IPv4-mapped', () => {
  for (const a of ['8.8.8.8', '93.184.215.14', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '::ffff:808:808']) {
    assert.equal(isBlockedAddress(a), false, a);
  }
});

test('resolveAllowed checks IP literals without DNS and resolves localhost locally', async () => {
  assert.deepEqual(await resolveAllowed('93.184.215.14'), [{ address: '93.184.215.14', family: 4 }]);
  assert.deepEqual(await resolveAllowed('[2606:4700::1111]'), [{ address: '2606:4700::1111', family: 6 }]);
  await assert.rejects(resolveAllowed('169.254.169.254'), /metadata/);
  await assert.rejects(resolveAllowed('localhost'), /loopback/);
});
