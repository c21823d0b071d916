/**
 * End to end, as root, for every forwarding method (DR, NAT, FullNAT, TUN), each describe in a
 * fresh lab (harness.ts): a client, a real `tslvs daemon` configured only through tslvsadm with
 * ipvsadm lines, rs1 (Node HTTP + UDP echo) and rs2 (nginx from Debian + Node UDP echo), and the
 * router of the lab's address plan where the mode has one. Asserted, per mode:
 *  - rr alternates exactly between the two servers (curl, a Node TCP client, a Node UDP client),
 *    wrr 3:1 gives exactly 3:1 over a whole number of rounds;
 *  - the peer address the real servers see (the client; FullNAT: the director's local address);
 *  - persistence (-p 60) keeps each client address on one server, and rr gives the next client
 *    the other one;
 *  - 10 MiB down and up through each server arrive intact (sha256);
 *  - weight 0 drains (new conns elsewhere, a held-open connection keeps working);
 *  - ipvsadm -d without expire_nodest_conn (the default): the conn stays and its packets are
 *    dropped, even a new SYN on the same client port (ip_vs_in_hook: dest not available → drop);
 *  - the replies' path from captures on every link: DR and TUN replies never touch the director's
 *    MACs, NAT and FullNAT replies all come back through it;
 *  - the director's host (forwarding on) neither sent a RST nor forwarded or answered anything.
 *
 * Expectations are the kernel's (net/netfilter/ipvs/ip_vs_core.c, ip_vs_rr.c, ip_vs_wrr.c), not
 * tslvs's own output: the counts follow from the schedulers' definitions, the sha256 of GET /big
 * from the pattern computed here, the upload's from the random bytes sent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BIG_SHA, FWD_NAME, MODES, ModeLab, PORT, TCP_RST, modeSkip, snmp } from './harness.ts';
import type { Answer, Mode, Pkt } from './harness.ts';

const names = (a: readonly Answer[]): string[] => a.map((x) => x.server);
const count = (a: readonly string[], s: string): number => a.filter((x) => x === s).length;
const re = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Each element differs from the one before. */
function alternates(seq: readonly string[]): boolean {
  return seq.every((s, i) => i === 0 || s !== seq[i - 1]);
}

/** Runs `fn`; a failure carries the daemon's log and listing. */
async function withDiag(lab: ModeLab, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof Error) e.message += `\n${await lab.diag()}`;
    throw e;
  }
}

const TITLE: Readonly<Record<Mode, string>> = {
  dr: 'DR on one LAN',
  nat: 'NAT behind a router',
  fullnat: 'FullNAT behind a router',
  tun: 'TUN (IPIP) across a router, real servers running tslvs rs-tun',
};

const SERVICE_PORTS = new Set<number>(Object.values(PORT));

for (const mode of MODES) {
  const skip = modeSkip(mode);
  describe(`e2e ${TITLE[mode]}`, { skip: skip ?? false }, () => {
    let lab: ModeLab | null = null;
    before(async () => {
      lab = await ModeLab.start(mode);
    });
    after(() => lab?.close());
    const L = (): ModeLab => {
      assert.ok(lab !== null, 'the lab was set up');
      return lab;
    };

    test('tslvsadm -R took every service; the listing shows the forwarding method and weights', async () => {
      const l = L();
      const out = (await l.adm('ipvsadm -Ln')).stdout;
      const vip = re(l.vip);
      const fwd = FWD_NAME[mode];
      for (const p of [PORT.rr, PORT.drain, PORT.del, PORT.transfer])
        assert.match(out, new RegExp(`^TCP  ${vip}:${p} rr\\s*$`, 'm'), out);
      assert.match(out, new RegExp(`^TCP  ${vip}:${PORT.persist} rr persistent 60\\s*$`, 'm'), out);
      assert.match(out, new RegExp(`^TCP  ${vip}:${PORT.wrr} wrr\\s*$`, 'm'), out);
      assert.match(out, new RegExp(`^UDP  ${vip}:${PORT.udp} rr\\s*$`, 'm'), out);
      assert.match(out, new RegExp(`-> ${re(l.dest(0, PORT.wrr))} +${fwd} +3 `), out);
      assert.match(out, new RegExp(`-> ${re(l.dest(1, PORT.wrr))} +${fwd} +1 `), out);
      assert.match(out, new RegExp(`-> ${re(l.dest(1, PORT.udp))} +${fwd} +1 `), out);
    });

    test('rr: curl, Node TCP and Node UDP requests alternate exactly between rs1 and rs2', async () => {
      const l = L();
      await withDiag(l, async () => {
        const curl = await l.curlMany(PORT.rr, 20);
        const node = await l.nodeMany('tcp', PORT.rr, 40);
        const tcp = names([...curl, ...node]);
        // ip_vs_rr_schedule: the next dest after the last one chosen, every time.
        assert.equal(count(tcp, 'rs1'), 30, tcp.join(' '));
        assert.equal(count(tcp, 'rs2'), 30, tcp.join(' '));
        assert.ok(alternates(tcp), `rr alternates: ${tcp.join(' ')}`);
        for (const a of [...curl, ...node]) assert.equal(a.peer, l.peerSeen(), 'the peer the server saw');
        const udp = await l.nodeMany('udp', PORT.udp, 40);
        const u = names(udp);
        assert.equal(count(u, 'rs1'), 20, u.join(' '));
        assert.equal(count(u, 'rs2'), 20, u.join(' '));
        assert.ok(alternates(u), `rr alternates: ${u.join(' ')}`);
        for (const a of udp) assert.equal(a.peer, l.peerSeen(), 'the UDP peer the server saw');
      });
    });

    test('wrr 3:1: 16 connections give exactly 12 to rs1 and 4 to rs2', async () => {
      const l = L();
      await withDiag(l, async () => {
        // ip_vs_wrr_schedule is periodic with period 3 + 1 = 4 (weights over their gcd), so any
        // 16 consecutive picks hold 4 whole periods: 12 of weight 3, 4 of weight 1, never two
        // weight-1 picks in a row.
        const seq = names(await l.curlMany(PORT.wrr, 16));
        assert.equal(count(seq, 'rs1'), 12, seq.join(' '));
        assert.equal(count(seq, 'rs2'), 4, seq.join(' '));
        assert.ok(
          seq.every((s, i) => s !== 'rs2' || seq[i - 1] !== 'rs2'),
          seq.join(' '),
        );
      });
    });

    test('persistence (-p 60): each client address stays on one server; the next client gets the other', async () => {
      const l = L();
      await withDiag(l, async () => {
        const a = await l.curlMany(PORT.persist, 8);
        const b = await l.curlMany(PORT.persist, 8, { from: l.clientIp2 });
        const sa = names(a);
        const sb = names(b);
        assert.ok(sa[0] === 'rs1' || sa[0] === 'rs2', sa.join(' '));
        assert.deepEqual(sa, Array<string>(8).fill(sa[0]), 'client 1 stays');
        // ip_vs_sched_persist: the second client's template is scheduled by rr → the other dest.
        assert.deepEqual(sb, Array<string>(8).fill(sa[0] === 'rs1' ? 'rs2' : 'rs1'), 'client 2 stays');
        for (const x of a) assert.equal(x.peer, l.peerSeen(l.clientIp));
        for (const x of b) assert.equal(x.peer, l.peerSeen(l.clientIp2));
      });
    });

    test('10 MiB down and 10 MiB up through each real server arrive intact (sha256)', async () => {
      const l = L();
      await withDiag(l, async () => {
        const downs = [await l.download(PORT.transfer, 1), await l.download(PORT.transfer, 2)];
        for (const d of downs) assert.equal(d.sha, BIG_SHA, `download from ${d.server} (curl ${d.code})`);
        assert.deepEqual(downs.map((d) => d.server).sort(), ['rs1', 'rs2']);
        const ups = [await l.upload(PORT.transfer, 'u1'), await l.upload(PORT.transfer, 'u2')];
        for (const u of ups) assert.equal(u.sha, l.upSha, `upload stored by ${u.server} (curl ${u.code})`);
        assert.deepEqual(ups.map((u) => u.server).sort(), ['rs1', 'rs2']);
      });
    });

    test('weight 0 drains: new connections go to the other server, a held-open one keeps working', async () => {
      const l = L();
      await withDiag(l, async () => {
        const h = l.hold(PORT.drain);
        const first = await h.cmd('get');
        assert.ok(first.ok, 'the held connection answered');
        const held = first.body.split(' ')[0];
        const k = l.rsIndex(held);
        const other = k === 0 ? 'rs2' : 'rs1';
        await l.adm(`ipvsadm -e -t ${l.vip}:${PORT.drain} -r ${l.dest(k, PORT.drain)} ${l.fwd} -w 0`);
        const list = (await l.adm('ipvsadm -Ln')).stdout;
        // Weight 0, and the held connection still counted active on it.
        assert.match(list, new RegExp(`-> ${re(l.dest(k, PORT.drain))} +${FWD_NAME[mode]} +0 +1 `), list);
        const fresh = names(await l.curlMany(PORT.drain, 6));
        assert.deepEqual(fresh, Array<string>(6).fill(other), 'no new connection to the drained server');
        for (let i = 0; i < 3; i++) {
          const r = await h.cmd('get');
          assert.ok(r.ok, `request ${i + 2} on the held connection answered`);
          assert.equal(r.body.split(' ')[0], held, 'still the drained server');
          assert.equal(r.lport, first.lport, 'the same connection');
        }
      });
    });

    test('ipvsadm -d (expire_nodest_conn=0): the conn stays and its packets are dropped, even a new SYN', async () => {
      const l = L();
      await withDiag(l, async () => {
        const h = l.hold(PORT.del);
        const first = await h.cmd('get');
        assert.ok(first.ok, 'the held connection answered');
        const held = first.body.split(' ')[0];
        const k = l.rsIndex(held);
        const other = k === 0 ? 'rs2' : 'rs1';
        await l.adm(`ipvsadm -d -t ${l.vip}:${PORT.del} -r ${l.dest(k, PORT.del)}`);
        const list = (await l.adm('ipvsadm -Ln')).stdout;
        assert.doesNotMatch(list, new RegExp(`-> ${re(l.dest(k, PORT.del))} `), list);
        // ip_vs_in_hook: the conn's dest is no longer available and expire_nodest_conn is 0: drop.
        const r = await h.cmd('get');
        assert.equal(r.ok, false, `a request on the conn of the deleted server was answered: ${r.body}`);
        const conns = (await l.adm('ipvsadm -Lnc')).stdout;
        assert.match(
          conns,
          new RegExp(
            `ESTABLISHED +${re(l.clientIp)}:${first.lport} +${re(l.vip)}:${PORT.del} +.*${re(l.dest(k, PORT.del))}`,
          ),
          `the conn stays in the table\n${conns}`,
        );
        // The client gives up with a RST (dropped too); a SYN from the same port hits the same
        // conn, whose dest is gone: dropped as well (is_new_conn_expected is false for ESTABLISHED).
        await h.cmd('reset');
        const again = await l.curlMany(PORT.del, 1, { localPort: first.lport, maxTime: 2 });
        assert.deepEqual(names(again), ['FAILED'], 'a SYN on the old conn is dropped');
        const fresh = names(await l.curlMany(PORT.del, 4));
        assert.deepEqual(fresh, Array<string>(4).fill(other), 'new connections go to the remaining server');
      });
    });

    test(`replies take the ${mode.toUpperCase()} path (tcpdump on every link)`, async () => {
      // Over everything the tests above sent (the capture runs from before the daemon started).
      const l = L();
      const pkts = await l.caps!.stop();
      const dir = l.directorMacs();
      const clientIps = new Set([l.clientIp, l.clientIp2]);
      const rips = new Set(l.rs.map((r) => r.rip));
      const touchesDir = (p: Pkt): boolean => dir.has(p.srcMac) || dir.has(p.dstMac);
      const isReply = (p: Pkt): boolean => (p.proto === 6 || p.proto === 17) && SERVICE_PORTS.has(p.sport);
      const show = (ps: readonly Pkt[]): string =>
        ps
          .slice(0, 5)
          .map(
            (p) =>
              `${p.role}/${p.ifname} ${p.srcMac}>${p.dstMac} ${p.outerSrc ?? ''}${p.outerSrc ? '>' : ''}${p.outerDst ?? ''} ` +
              `${p.src}:${p.sport}>${p.dst}:${p.dport} proto ${p.proto} flags ${p.flags.toString(16)}`,
          )
          .join('\n');
      // What reaches the client from a service port comes from the VIP, in every mode.
      const atClient = pkts.filter((p) => p.role === 'client' && clientIps.has(p.dst) && isReply(p));
      assert.ok(atClient.length >= 100, `replies at the client: ${atClient.length}`);
      const notVip = atClient.filter((p) => p.src !== l.vip);
      assert.equal(notVip.length, 0, `the client got replies not from the VIP:\n${show(notVip)}`);
      if (mode === 'dr' || mode === 'tun') {
        const replies = pkts.filter((p) => p.src === l.vip && isReply(p));
        const crossing = replies.filter(touchesDir);
        assert.equal(crossing.length, 0, `replies crossed the director:\n${show(crossing)}`);
        // The requests did cross it: from the director to the real servers, MAC-rewritten (DR)
        // or inside an outer header DIP > RIP (TUN).
        const fwd = pkts.filter((p) => dir.has(p.srcMac) && p.dst === l.vip && !isReply(p));
        assert.ok(fwd.length >= 100, `requests forwarded by the director: ${fwd.length}`);
        if (mode === 'dr') assert.ok(fwd.every((p) => p.outerSrc === null));
        else {
          const bare = fwd.filter((p) => p.outerDst === null || !rips.has(p.outerDst));
          assert.equal(bare.length, 0, `TUN requests not tunnelled to a RIP:\n${show(bare)}`);
        }
      } else {
        // Every reply a real server sent went to the director's MAC...
        const fromRs = pkts.filter((p) => p.role.startsWith('rs') && rips.has(p.src) && isReply(p));
        assert.ok(fromRs.length >= 100, `replies sent by the real servers: ${fromRs.length}`);
        const bypass = fromRs.filter((p) => p.dstMac !== l.macOf('director', 'eth1'));
        assert.equal(bypass.length, 0, `real-server replies not sent to the director:\n${show(bypass)}`);
        // ...no real-server address ever appears outside the real servers' LAN...
        const leaked = pkts.filter((p) => (p.role === 'client' || p.role === 'router') && rips.has(p.src));
        assert.equal(leaked.length, 0, `real-server addresses outside:\n${show(leaked)}`);
        // ...and the director sent the replies on, from the VIP.
        const out = pkts.filter(
          (p) => p.role === 'router' && p.srcMac === l.macOf('director') && p.src === l.vip && isReply(p),
        );
        assert.ok(out.length >= 100, `replies the director sent to the router: ${out.length}`);
        if (mode === 'nat') {
          assert.ok(
            fromRs.every((p) => clientIps.has(p.dst)),
            'NAT: the real servers answer the client address',
          );
        } else {
          // FullNAT: the real servers only ever see the local address, never the client's.
          const toRs = pkts.filter(
            (p) => p.role.startsWith('rs') && rips.has(p.dst) && SERVICE_PORTS.has(p.dport),
          );
          assert.ok(toRs.length >= 100, `requests at the real servers: ${toRs.length}`);
          const fromClient = toRs.filter((p) => p.src !== l.lip);
          assert.equal(
            fromClient.length,
            0,
            `FullNAT: a real server saw another source:\n${show(fromClient)}`,
          );
          assert.ok(
            fromRs.every((p) => p.dst === l.lip),
            'FullNAT: the real servers answer the local address',
          );
        }
      }
      const stats = (await l.adm('ipvsadm -Ln --stats')).stdout;
      const svcLine = new RegExp(`^TCP  ${re(l.vip)}:${PORT.rr} +(\\d+) +(\\d+) +(\\d+) `, 'm').exec(stats);
      assert.ok(svcLine, stats);
      assert.equal(Number(svcLine[1]), 60, `connections counted\n${stats}`);
      if (mode === 'dr' || mode === 'tun') assert.equal(Number(svcLine[3]), 0, `OutPkts\n${stats}`);
      else assert.ok(Number(svcLine[3]) >= 60 * 3, `OutPkts\n${stats}`);
    });

    test("the director's host stack sent no RST and forwarded nothing (host guard)", async () => {
      const l = L();
      const pkts = await l.caps!.stop();
      const dir = l.directorMacs();
      // A RST leaving a director MAC is tslvs forwarding one it received (same sequence number),
      // or the host answering on its own.
      const rstIn = new Set(
        pkts.filter((p) => p.proto === 6 && (p.flags & TCP_RST) !== 0 && dir.has(p.dstMac)).map((p) => p.seq),
      );
      const own = pkts.filter(
        (p) => p.proto === 6 && (p.flags & TCP_RST) !== 0 && dir.has(p.srcMac) && !rstIn.has(p.seq),
      );
      assert.deepEqual(
        own.map((p) => `${p.role}/${p.ifname} ${p.src}:${p.sport} > ${p.dst}:${p.dport}`),
        [],
        'RSTs from the director that it never received',
      );
      // The host's own counters (per namespace): tslvs's AF_PACKET frames are not in them.
      const now = snmp(l.run, 'director');
      for (const k of ['Tcp.OutRsts', 'Icmp.OutDestUnreachs', 'Icmp.OutRedirects', 'Ip.ForwDatagrams'])
        assert.equal(
          (now.get(k) ?? 0) - (l.snmpAtStart.get(k) ?? 0),
          0,
          `${k} of the director's host\n${l.run.daemonLog()}`,
        );
    });
  });
}
