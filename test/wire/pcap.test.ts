import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { PcapWriter, readPcap } from '../../src/wire/pcap.ts';
import { hex, toHex } from '../helpers/bytes.ts';
import { allGoldens, goldenText } from '../helpers/golden.ts';
import { tsharkRun, tsharkSkip } from '../helpers/tshark.ts';

const SKIP = tsharkSkip();

/** Runs tshark on a pcap held in memory; returns stdout lines. */
function tshark(file: Uint8Array, args: string[]): string[] {
  return tsharkRun(file, args).replace(/\n$/, '').split('\n');
}

test('file header is libpcap 2.4, LE magic a1b2c3d4, snaplen 262144, Ethernet (pcap-savefile(5), by hand)', () => {
  const w = new PcapWriter();
  assert.equal(
    toHex(w.toBuffer()),
    'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + '00000400' + '01000000',
  );
  w.write(hex('0102 0304 05'), 1, 3, 0x01020304, 999_999);
  // ts_sec 0x01020304, ts_usec 999999 = 0x0f423f, incl 3, orig 3, then bytes 02 03 04.
  assert.equal(toHex(w.toBuffer(), 24), '04030201' + '3f420f00' + '03000000' + '03000000' + '020304');
  assert.equal(w.count, 1);
});

test('snaplen cuts the data but keeps orig_len; microseconds carry; writeAtMs splits ms', () => {
  const w = new PcapWriter({ snaplen: 64, linktype: 101 });
  const frame = Uint8Array.from({ length: 100 }, (_, i) => i);
  w.write(frame, 0, 100, 10, 2_500_000);
  w.writeAtMs(frame, 5, 10, 1_700_000_123_456.9);
  const f = readPcap(w.toBuffer());
  assert.deepEqual([f.snaplen, f.linktype, f.versionMajor, f.versionMinor, f.nanos], [64, 101, 2, 4, false]);
  assert.equal(f.frames.length, 2);
  assert.deepEqual([f.frames[0].tsSec, f.frames[0].tsUsec, f.frames[0].origLen], [12, 500_000, 100]);
  assert.deepEqual(f.frames[0].data, frame.subarray(0, 64));
  assert.deepEqual(
    [f.frames[1].tsSec, f.frames[1].tsUsec, f.frames[1].origLen],
    [1_700_000_123, 456_000, 10],
  );
  assert.deepEqual(f.frames[1].data, frame.subarray(5, 15));
});

test('bad arguments throw (control-plane API)', () => {
  const w = new PcapWriter();
  assert.throws(() => w.write(new Uint8Array(4), 2, 3, 0, 0), RangeError);
  assert.throws(() => w.write(new Uint8Array(4), 0, 4, -1, 0), RangeError);
  assert.throws(() => w.write(new Uint8Array(4), 0, 4, 0, 0.5), RangeError);
  assert.throws(() => new PcapWriter({ snaplen: 0 }), RangeError);
  assert.throws(() => new PcapWriter({ sink: { stream: new PassThrough() } }).toBuffer());
});

test('property: whatever is written reads back (frames, timestamps, lengths)', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          data: fc.uint8Array({ maxLength: 300 }),
          sec: fc.integer({ min: 0, max: 0xfffffff }),
          usec: fc.integer({ min: 0, max: 999_999 }),
        }),
        { maxLength: 20 },
      ),
      (recs) => {
        const w = new PcapWriter();
        for (const r of recs) w.write(r.data, 0, r.data.length, r.sec, r.usec);
        const f = readPcap(w.toBuffer());
        assert.deepEqual(
          f.frames.map((x) => [x.tsSec, x.tsUsec, x.origLen, toHex(x.data)]),
          recs.map((r) => [r.sec, r.usec, r.data.length, toHex(r.data)]),
        );
      },
    ),
    { numRuns: 200 },
  );
});

test('fd and stream sinks write the same bytes as the in-memory writer', async () => {
  const frames = [hex('00112233445566778899aabbccdd0800'), hex('ff'.repeat(70))];
  const mem = new PcapWriter();
  const dir = mkdtempSync(join(tmpdir(), 'wiretun-'));
  try {
    const path = join(dir, 'fd.pcap');
    const fd = openSync(path, 'w');
    const viaFd = new PcapWriter({ sink: { fd } });
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const viaStream = new PcapWriter({ sink: { stream } });
    frames.forEach((f, i) => {
      for (const w of [mem, viaFd, viaStream]) w.write(f, 0, f.length, 1000 + i, 42);
    });
    // The writer copies: clobbering the caller's buffer afterwards changes nothing.
    frames[0].fill(0);
    closeSync(fd);
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    assert.deepEqual(readFileSync(path), mem.toBuffer());
    assert.deepEqual(Buffer.concat(chunks), mem.toBuffer());
    assert.equal(toHex(readPcap(mem.toBuffer()).frames[0].data), '00112233445566778899aabbccdd0800');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readPcap: big-endian and nanosecond files (hand-made headers), bad magic, cut records', () => {
  const be = hex(
    'a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000001' + '00000005 00000007 00000002 00000003 abcd',
  );
  const f = readPcap(be);
  assert.deepEqual([f.snaplen, f.linktype, f.nanos], [0xffff, 1, false]);
  assert.deepEqual(f.frames, [{ tsSec: 5, tsUsec: 7, origLen: 3, data: hex('abcd') }]);
  const ns = hex(
    '4d3cb2a1 0200 0400 00000000 00000000 ffff0000 01000000' + '05000000 15cd5b07 01000000 01000000 ee',
  );
  const g = readPcap(ns);
  assert.equal(g.nanos, true);
  assert.equal(g.frames[0].tsUsec, 123_456, '123456789 ns');
  assert.throws(() => readPcap(hex('0000000000000000000000000000000000000000000000000000')), /magic/);
  assert.throws(() => readPcap(be.subarray(0, be.length - 1)), /truncated/);
  assert.throws(() => readPcap(be.subarray(0, 30)), /truncated/);
  assert.throws(() => readPcap(be.subarray(0, 10)), /truncated/);
});

interface Golden {
  name: string;
  bytes: Uint8Array;
  fields: [string, string][];
  rawFrom?: number;
  rawFields: [string, string][];
}

function parseFields(line: string | undefined): [string, string][] {
  if (!line) return [];
  return line
    .trim()
    .split(/\s+/)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]);
}

function loadGoldens(): Golden[] {
  return [...allGoldens('tunnel').keys()]
    .map((k) => k.slice('tunnel/'.length))
    .map((name) => {
      const text = goldenText('tunnel', name);
      const tag = (t: string): string | undefined => new RegExp(`^# ${t}: (.*)$`, 'm').exec(text)?.[1];
      const raw = tag('tshark-raw-from');
      return {
        name,
        bytes: hex(text),
        fields: parseFields(tag('tshark-fields')),
        rawFrom: raw === undefined ? undefined : Number(raw),
        rawFields: parseFields(tag('tshark-raw-fields')),
      };
    });
}

const CHECKSUMS = [
  '-o',
  'ip.check_checksum:TRUE',
  '-o',
  'udp.check_checksum:TRUE',
  '-o',
  'tcp.check_checksum:TRUE',
];

/** Field values per frame from one tshark run, in the order of `fields`. */
function fieldValues(file: Uint8Array, fields: string[]): string[][] {
  const args = [...CHECKSUMS, '-T', 'fields', '-E', 'occurrence=a', ...fields.flatMap((f) => ['-e', f])];
  return tshark(file, args).map((l) => l.split('\t'));
}

test(
  'tshark cross-check: every golden in one PcapWriter file, tshark sees N frames with our timestamps and decodes each golden as its comments record',
  { skip: SKIP },
  () => {
    const goldens = loadGoldens();
    assert.ok(goldens.length >= 15, 'golden files found');
    const w = new PcapWriter();
    goldens.forEach((g, i) => w.write(g.bytes, 0, g.bytes.length, 1_700_000_000 + i, i * 1000 + 7));
    const file = w.toBuffer();
    const frames = fieldValues(file, ['frame.number', 'frame.len', 'frame.time_epoch']);
    assert.equal(frames.length, goldens.length);
    frames.forEach(([num, len, epoch], i) => {
      assert.equal(Number(num), i + 1);
      assert.equal(Number(len), goldens[i].bytes.length, goldens[i].name);
      assert.equal(epoch, `${1_700_000_000 + i}.${String(i * 1000 + 7).padStart(6, '0')}000`);
    });
    const all = [...new Set(goldens.flatMap((g) => g.fields.map(([f]) => f)))];
    const values = fieldValues(file, all);
    goldens.forEach((g, i) => {
      assert.ok(g.fields.length > 0, `${g.name} records tshark fields`);
      for (const [f, want] of g.fields) assert.equal(values[i][all.indexOf(f)], want, `${g.name}: ${f}`);
    });
  },
);

test(
  'tshark cross-check of GUE payloads (no GUE dissector in tshark 4.0): the bytes after the GUE header decode as the inner IPv4/TCP',
  { skip: SKIP },
  () => {
    const gue = loadGoldens().filter((g) => g.rawFrom !== undefined);
    assert.ok(gue.length >= 3);
    const w = new PcapWriter({ linktype: 101 }); // LINKTYPE_RAW: the record starts with the IP header
    for (const g of gue) w.write(g.bytes, g.rawFrom ?? 0, g.bytes.length - (g.rawFrom ?? 0), 0, 0);
    const all = [...new Set(gue.flatMap((g) => g.rawFields.map(([f]) => f)))];
    const values = fieldValues(w.toBuffer(), all);
    assert.equal(values.length, gue.length);
    gue.forEach((g, i) => {
      for (const [f, want] of g.rawFields) assert.equal(values[i][all.indexOf(f)], want, `${g.name}: ${f}`);
    });
  },
);

test('tshark reads a file written through an fd sink and counts its frames', { skip: SKIP }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'wiretun-'));
  try {
    const path = join(dir, 'fd.pcap');
    const fd = openSync(path, 'w');
    const w = new PcapWriter({ sink: { fd } });
    const g = loadGoldens()[0].bytes;
    for (let i = 0; i < 5; i++) w.write(g, 0, g.length, i, 0);
    closeSync(fd);
    assert.equal(tshark(readFileSync(path), ['-T', 'fields', '-e', 'frame.number']).length, 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
