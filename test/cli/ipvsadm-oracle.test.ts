// parseIpvsadm against goldens recorded from ipvsadm 1.31's own parsing code (see the header of
// ipvsadm-oracle.golden.ts for how they were made and what the stub output lines mean).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IpvsadmCommand, ParseResult, ServiceSpec } from '../../src/cli/ipvsadm/args.ts';
import { parseIpvsadm, splitRestoreInput, usageText, versionText } from '../../src/cli/ipvsadm/args.ts';
import { hostsFileResolver, servicesFileResolver } from '../../src/cli/ipvsadm/resolve.ts';
import { ipAddrToString } from '../../src/model/addr.ts';
import { ARGV_GOLDENS, RESTORE_GOLDENS } from './ipvsadm-oracle.golden.ts';

// The lookups the goldens were recorded with (the recording machine's /etc/hosts and the entries
// of Debian's /etc/services that the cases use).
const resolveHost = hostsFileResolver('127.0.0.1 localhost\n127.0.0.1 runsc\n127.0.0.1 vm\n');
const resolveService = servicesFileResolver(
  [
    'ssh 22/tcp',
    'domain 53/tcp',
    'domain 53/udp',
    'http 80/tcp www',
    'https 443/tcp',
    'https 443/udp',
    'sip 5060/tcp',
    'sip 5060/udp',
    'amqp 5672/sctp',
  ].join('\n'),
);

function afNum(af: number): number {
  return af === 6 ? 10 : 2;
}

interface SvcExtra {
  sched: string;
  flags: number;
  timeout: number;
  netmask: number;
  pe: string;
}

/** The stub's <svc> text for what ipvsadm would have sent as struct ip_vs_service_user. */
function svcText(s: ServiceSpec | null, extra?: SvcExtra): string {
  if (s === null)
    return 'af=0 proto=0 addr=0.0.0.0 port=0 fwmark=0 sched= flags=0x0 timeout=0 netmask=4294967295 pe=';
  const addr = s.addr !== null ? ipAddrToString(s.addr) : s.af === 6 ? '::' : '0.0.0.0';
  // ipvsadm sends a dummy TCP protocol for fwmark services; the parser reports 0 there.
  const proto = s.fwmark !== 0 ? 6 : s.protocol;
  const e = extra ?? { sched: '', flags: 0, timeout: 0, netmask: s.af === 6 ? 128 : 0xffffffff, pe: '' };
  return (
    `af=${afNum(s.af)} proto=${proto} addr=${addr} port=${s.port} fwmark=${s.fwmark} sched=${e.sched} ` +
    `flags=0x${e.flags.toString(16)} timeout=${e.timeout} netmask=${e.netmask} pe=${e.pe}`
  );
}

function render(cmd: IpvsadmCommand): string {
  switch (cmd.kind) {
    case 'add-service':
    case 'edit-service':
      return `${cmd.kind === 'add-service' ? 'ADD' : 'EDIT'} ${svcText(cmd.service, { ...cmd, sched: cmd.scheduler })}\n`;
    case 'delete-service':
      return `DEL ${svcText(cmd.service)}\n`;
    case 'zero':
      return `ZERO ${svcText(cmd.service)}\n`;
    case 'flush':
      return 'FLUSH\n';
    case 'add-server':
    case 'edit-server':
    case 'delete-server': {
      const op = { 'add-server': 'ADDDEST', 'edit-server': 'EDITDEST', 'delete-server': 'DELDEST' }[cmd.kind];
      const d = cmd.dest;
      return (
        `${op} ${svcText(cmd.service)} | daf=${afNum(d.af)} daddr=${ipAddrToString(d.addr)} dport=${d.port} ` +
        `fwd=${d.fwd} weight=${d.weight} u=${d.uThreshold} l=${d.lThreshold} tuntype=${d.tunType} ` +
        `tunport=${d.tunPort} tunflags=${d.tunFlags}\n`
      );
    }
    case 'set-timeout':
      return `TIMEOUT ${cmd.tcp} ${cmd.tcpFin} ${cmd.udp}\n`;
    case 'start-daemon':
    case 'stop-daemon': {
      const d = cmd.daemon;
      const group = d.mcastGroup !== null ? ipAddrToString(d.mcastGroup) : 'none';
      return (
        `${cmd.kind === 'start-daemon' ? 'STARTD' : 'STOPD'} state=${d.state === 'master' ? 1 : 2} ` +
        `ifn=${d.mcastIfn} syncid=${d.syncId} maxlen=${d.syncMaxlen} port=${d.mcastPort} ttl=${d.mcastTtl} group=${group}\n`
      );
    }
    case 'save':
      return `LIST all fmt=0x${(2 | (cmd.numeric ? 1 : 0)).toString(16)}\n`;
    case 'list': {
      const f = cmd.format;
      const bits =
        (f.numeric ? 0x1 : 0) |
        (f.stats ? 0x4 : 0) |
        (f.rate ? 0x8 : 0) |
        (f.thresholds ? 0x10 : 0) |
        (f.persistentConn ? 0x20 : 0) |
        (f.nosort ? 0x40 : 0) |
        (f.exact ? 0x80 : 0) |
        (f.tunInfo ? 0x100 : 0);
      const fmt = `fmt=0x${bits.toString(16)}`;
      if (cmd.what === 'connections') return `LIST conn ${fmt}\n`;
      if (cmd.what === 'service') return `LIST service ${svcText(cmd.service)} ${fmt}\n`;
      if (cmd.what === 'timeout') return 'LIST timeout\n';
      if (cmd.what === 'daemon') return 'LIST daemon\n';
      return `LIST all ${fmt}\n`;
    }
    case 'help':
    case 'version':
      return cmd.text;
    case 'restore':
      // The oracle ran with an empty stdin, so restoring printed nothing.
      return '';
    default:
      return `unexpected ${cmd.kind}\n`;
  }
}

type Outcome = readonly [stdout: string, stderr: string, exit: number | 'hang'];

function outcome(r: ParseResult): Outcome {
  if (r.ok) return [render(r.cmd), '', 0];
  if (r.abnormal === 'hang') return ['', '', 'hang'];
  return ['', r.message, r.exitCode];
}

test('every argv golden gives the same kernel call, stderr and exit status', () => {
  assert.ok(ARGV_GOLDENS.length > 400);
  for (const [argv, stdout, stderr, exit] of ARGV_GOLDENS) {
    const got = outcome(parseIpvsadm(argv, { resolveHost, resolveService }));
    // The -h/-v text itself is checked byte for byte in ipvsadm-args.test.ts.
    const out = stdout === '<usage>' ? usageText('ipvsadm') : stdout === '<version>' ? versionText() : stdout;
    assert.deepEqual(got, [out, stderr, exit], JSON.stringify(argv));
  }
});

/** What `ipvsadm -R` does with a whole input: run each line until something exits. */
function restore(input: string): Outcome {
  let stdout = '';
  let stderr = '';
  let result = 0;
  for (const argv of splitRestoreInput(input)) {
    const r = parseIpvsadm(argv, { resolveHost, resolveService, restoreMode: true });
    if (r.ok) {
      stdout += render(r.cmd);
      result = 0;
      if (r.cmd.kind === 'help' || r.cmd.kind === 'version') return [stdout, stderr, 0];
      continue;
    }
    if (r.abnormal === 'hang') return [stdout, stderr, 'hang'];
    stderr += r.message;
    if (r.exits) return [stdout, stderr, r.exitCode];
    result = r.exitCode;
  }
  return [stdout, stderr, result];
}

test('every restore golden runs the same lines with the same results', () => {
  for (const [input, stdout, stderr, exit] of RESTORE_GOLDENS) {
    assert.deepEqual(restore(input), [stdout, stderr, exit], JSON.stringify(input));
  }
});
