// C library parsing rules behind ipvsadm's accepted syntax (src/cli/ipvsadm/clib.ts).
//
// Golden table: every expected value was produced by a small C program run on this machine
// (Debian 12, glibc 2.36) that printed inet_aton(), inet_pton(AF_INET), inet_pton(AF_INET6)
// (shown here as the 16 bytes in hex), strtol(s, &end, 10) (value, end offset, errno == ERANGE)
// and atoi() for each input string.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  cAtoi,
  cString,
  inetAton,
  inetPton4,
  inetPton6,
  strtol10,
  truncateBytes,
} from '../../src/cli/ipvsadm/clib.ts';

type Row = [
  input: string,
  aton: number | null,
  pton4: number | null,
  pton6: string | null,
  strtol: string,
  end: number,
  erange: boolean,
  atoi: number,
];

// prettier-ignore
const GLIBC: Row[] = [
  ["1.2.3.4", 16909060, 16909060, null, '1', 1, false, 1],
  ["10.1", 167772161, null, null, '10', 2, false, 10],
  ["10.1.2", 167837698, null, null, '10', 2, false, 10],
  ["0x0a000001", 167772161, null, null, '0', 1, false, 0],
  ["0X0A000001", 167772161, null, null, '0', 1, false, 0],
  ["012.0.0.1", 167772161, null, null, '12', 3, false, 12],
  ["08.1.1.1", null, null, null, '8', 2, false, 8],
  ["09", null, null, null, '9', 2, false, 9],
  ["0x", null, null, null, '0', 1, false, 0],
  ["0xg", null, null, null, '0', 1, false, 0],
  ["1.2.3.4 junk", 16909060, null, null, '1', 1, false, 1],
  ["1.2.3.4\tx", 16909060, null, null, '1', 1, false, 1],
  ["1.2.3.4\u000bx", 16909060, null, null, '1', 1, false, 1],
  ["1.2.3.4x", null, null, null, '1', 1, false, 1],
  ["1.2.3.", null, null, null, '1', 1, false, 1],
  ["1..2", null, null, null, '1', 1, false, 1],
  [".1.2.3", null, null, null, '0', 0, false, 0],
  ["1.2.3.4.5", null, null, null, '1', 1, false, 1],
  ["255.255.255.255", 4294967295, 4294967295, null, '255', 3, false, 255],
  ["256.1.1.1", null, null, null, '256', 3, false, 256],
  ["1.256.1.1", null, null, null, '1', 1, false, 1],
  ["1.2.65535", 16973823, null, null, '1', 1, false, 1],
  ["1.2.65536", null, null, null, '1', 1, false, 1],
  ["1.16777215", 33554431, null, null, '1', 1, false, 1],
  ["1.16777216", null, null, null, '1', 1, false, 1],
  ["4294967295", 4294967295, null, null, '4294967295', 10, false, -1],
  ["4294967296", null, null, null, '4294967296', 10, false, 0],
  ["99999999999999999999999", null, null, null, '9223372036854775807', 23, true, -1],
  ["", null, null, null, '0', 0, false, 0],
  [" 1.2.3.4", null, null, null, '1', 2, false, 1],
  ["+1.2.3.4", null, null, null, '1', 2, false, 1],
  ["-1", null, null, null, '-1', 2, false, -1],
  ["01.2.3.4", 16909060, null, null, '1', 2, false, 1],
  ["1.2.3.04", 16909060, null, null, '1', 1, false, 1],
  ["0.0.0.0", 0, 0, null, '0', 1, false, 0],
  ["::", null, null, '00000000000000000000000000000000', '0', 0, false, 0],
  ["::1", null, null, '00000000000000000000000000000001', '0', 0, false, 0],
  ["1::", null, null, '00010000000000000000000000000000', '1', 1, false, 1],
  ["1:2:3:4:5:6:7:8", null, null, '00010002000300040005000600070008', '1', 1, false, 1],
  ["1:2:3:4:5:6:7::8", null, null, null, '1', 1, false, 1],
  ["1:2:3:4:5:6:7:8:9", null, null, null, '1', 1, false, 1],
  ["::1:2:3:4:5:6:7", null, null, '00000001000200030004000500060007', '0', 0, false, 0],
  ["::ffff:1.2.3.4", null, null, '00000000000000000000ffff01020304', '0', 0, false, 0],
  ["::ffff:01.2.3.4", null, null, null, '0', 0, false, 0],
  ["1::2::3", null, null, null, '1', 1, false, 1],
  ["12345::", null, null, null, '12345', 5, false, 12345],
  [":1::", null, null, null, '0', 0, false, 0],
  ["1:", null, null, null, '1', 1, false, 1],
  ["fe80::1%eth0", null, null, null, '0', 0, false, 0],
  ["FE80::ABCD", null, null, 'fe80000000000000000000000000abcd', '0', 0, false, 0],
  ["::1.2.3.4", null, null, '00000000000000000000000001020304', '0', 0, false, 0],
  ["1:2:3:4:5:6:1.2.3.4", null, null, '00010002000300040005000601020304', '1', 1, false, 1],
  ["1:2:3:4:5:6:7:1.2.3.4", null, null, null, '1', 1, false, 1],
  ["::a.2.3.4", null, null, null, '0', 0, false, 0],
  ["::1234.1.1.1", null, null, null, '0', 0, false, 0],
  ["1:::2", null, null, null, '1', 1, false, 1],
  ["0", 0, null, null, '0', 1, false, 0],
  ["+5", null, null, null, '5', 2, false, 5],
  ["-0", null, null, null, '0', 2, false, 0],
  ["  42", null, null, null, '42', 4, false, 42],
  ["42 ", 42, null, null, '42', 2, false, 42],
  ["9223372036854775807", null, null, null, '9223372036854775807', 19, false, -1],
  ["9223372036854775808", null, null, null, '9223372036854775807', 19, true, -1],
  ["-9223372036854775808", null, null, null, '-9223372036854775808', 20, false, 0],
  ["-9223372036854775809", null, null, null, '-9223372036854775808', 20, true, 0],
  ["4294967360", null, null, null, '4294967360', 10, false, 64],
  ["-4294967233", null, null, null, '-4294967233', 11, false, 63],
  ["2147483648", 2147483648, null, null, '2147483648', 10, false, -2147483648],
  ["12abc", null, null, null, '12', 2, false, 12],
  ["abc", null, null, null, '0', 0, false, 0],
  ["+", null, null, null, '0', 0, false, 0],
  ["-", null, null, null, '0', 0, false, 0],
];

function hex(b: Uint8Array | null): string | null {
  return b === null ? null : Buffer.from(b).toString('hex');
}

test('inet_aton, inet_pton, strtol and atoi agree with glibc on the golden table', () => {
  for (const [s, aton, p4, p6, sv, end, erange, atoi] of GLIBC) {
    assert.equal(inetAton(s), aton, `inet_aton(${JSON.stringify(s)})`);
    assert.equal(inetPton4(s), p4, `inet_pton4(${JSON.stringify(s)})`);
    assert.equal(hex(inetPton6(s)), p6, `inet_pton6(${JSON.stringify(s)})`);
    const r = strtol10(s);
    assert.deepEqual(
      [r.value.toString(), r.end, r.erange],
      [sv, end, erange],
      `strtol(${JSON.stringify(s)})`,
    );
    assert.equal(cAtoi(s), atoi, `atoi(${JSON.stringify(s)})`);
  }
});

/** An independent IPv6 parser: the WHATWG URL host serializer (all-hex groups, one "::"). */
function whatwgIpv6Hex(s: string): string {
  const host = new URL(`http://[${s}]/`).hostname.slice(1, -1);
  const [head, tail] = host.includes('::') ? host.split('::') : [host, null];
  const h = head === '' ? [] : head.split(':');
  const t = tail === null || tail === '' ? [] : tail.split(':');
  const groups = tail === null ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

test('inet_pton6 agrees with the WHATWG URL parser on generated addresses', () => {
  fc.assert(
    fc.property(fc.ipV6(), (s) => {
      // fc.ipV6 never produces a "::" that stands for no group at all, which glibc refuses.
      assert.equal(hex(inetPton6(s)), whatwgIpv6Hex(s), s);
    }),
    { numRuns: 500 },
  );
});

test('inet_aton reads every dotted quad as inet_pton does', () => {
  fc.assert(
    fc.property(fc.ipV4(), (s) => {
      assert.equal(inetAton(s), inetPton4(s));
    }),
    { numRuns: 500 },
  );
});

test('C strings end at NUL; byte truncation keeps whole UTF-8 prefixes', () => {
  assert.equal(cString('ab\0cd'), 'ab');
  assert.equal(cString('abc'), 'abc');
  assert.equal(truncateBytes('abcdefghijklmnopq', 15), 'abcdefghijklmno');
  assert.equal(truncateBytes('short', 15), 'short');
  // 'é' is two bytes: 7 of them are 14 bytes, the 8th would make 16.
  assert.equal(truncateBytes('éééééééé', 15), 'ééééééé\ufffd');
});
