/**
 * The hosts every setup shares: the client's and real servers' configuration, nginx, iperf3 and
 * the UDP counters on the real servers, and the check that a setup really balances before it is
 * measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readText, sleep, waitFor } from '../../src/lab/run.ts';
import { udpSinkRuleset } from './measure.ts';
import type { Setup, SetupCtx } from './setups.ts';
import {
  CLIENT_NET,
  DIR_BACK,
  DIR_FRONT,
  HTTP_PORT,
  IPERF_PORT,
  RS,
  RS_NET,
  UDP_PORT,
  VIP,
  listening,
  nft,
  sh,
} from './setups.ts';

/** Size of /big.bin, fetched once per setup to check the bulk path end to end. */
export const BIG_BYTES = 10 * 1024 * 1024;

/** nginx for one real server: one worker (two real servers on two cores), files from `root`. */
export function nginxConfig(dir: string, role: string, root: string): string {
  return `worker_processes 1;
daemon off;
master_process on;
user root;
pid ${dir}/nginx-${role}.pid;
error_log ${dir}/nginx-${role}.err warn;
worker_rlimit_nofile 65536;
events {
  worker_connections 16384;
  multi_accept on;
}
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 100000000;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/nginx-${role}-body;
  proxy_temp_path ${dir}/nginx-${role}-proxy;
  fastcgi_temp_path ${dir}/nginx-${role}-fastcgi;
  uwsgi_temp_path ${dir}/nginx-${role}-uwsgi;
  scgi_temp_path ${dir}/nginx-${role}-scgi;
  server {
    listen ${HTTP_PORT} backlog=8192;
    root ${root};
  }
}
`;
}

/**
 * Everything but the director: sysctls, the real servers' route and VIP as `s` wants them, nginx,
 * iperf3 and the UDP counters. Returns once the servers listen.
 */
export async function prepareHosts(c: SetupCtx, s: Setup): Promise<void> {
  const run = c.run;
  // Wide port ranges and TIME_WAIT reuse on the connecting sides (the client; the director for
  // HAProxy): 'Connection: close' opens thousands of connections a second.
  for (const role of ['client', 'director']) {
    await sh(c, role, 'sysctl', ['-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535'], false);
    await sh(c, role, 'sysctl', ['-q', '-w', 'net.ipv4.tcp_tw_reuse=1'], false);
    await sh(c, role, 'sysctl', ['-q', '-w', 'net.core.somaxconn=8192'], false);
  }
  // Kernel routing's path to the real servers (the other setups use the VIP, on the client's subnet).
  await sh(c, 'client', 'ip', ['route', 'add', RS_NET, 'via', DIR_FRONT], false);
  await sh(c, 'client', 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.accept_redirects=0'], false);
  // One-armed director: the kernel would otherwise send ICMP redirects when it routes.
  for (const k of ['all', 'default', 'eth0'])
    await sh(c, 'director', 'sysctl', ['-q', '-w', `net.ipv4.conf.${k}.send_redirects=0`], false);

  const www = join(run.dir, 'www');
  for (const rs of RS) {
    const root = join(www, rs.role);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'index.html'), `${rs.role}\n`);
    writeFileSync(join(root, 'big.bin'), Buffer.alloc(BIG_BYTES, rs.role === 'rs1' ? 0x31 : 0x32));
    const conf = join(run.dir, `nginx-${rs.role}.conf`);
    writeFileSync(conf, nginxConfig(run.dir, rs.role, root));
    await sh(c, rs.role, 'sysctl', ['-q', '-w', 'net.core.somaxconn=8192'], false);
    await sh(c, rs.role, 'sysctl', ['-q', '-w', 'net.ipv4.tcp_max_syn_backlog=8192'], false);
    if (s.rsRoute === 'via-director')
      await sh(c, rs.role, 'ip', ['route', 'add', CLIENT_NET, 'via', DIR_BACK]);
    else if (s.rsRoute === 'direct')
      await sh(c, rs.role, 'ip', ['route', 'add', CLIENT_NET, 'dev', 'eth0', ...(s.rsRouteExtra ?? [])]);
    if (s.rsVip) {
      await sh(c, rs.role, 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
      for (const k of ['all', 'eth0', 'lo']) {
        await sh(c, rs.role, 'sysctl', ['-q', '-w', `net.ipv4.conf.${k}.arp_ignore=1`], k === 'all');
        await sh(c, rs.role, 'sysctl', ['-q', '-w', `net.ipv4.conf.${k}.arp_announce=2`], k === 'all');
      }
    }
    await nft(c, rs.role, udpSinkRuleset(UDP_PORT), false);
    run.spawn(rs.role, 'nginx', 'nginx', ['-c', conf, '-p', run.dir], `nginx-${rs.role}.log`);
    run.spawn(rs.role, 'iperf3', 'iperf3', ['-s', '-p', String(IPERF_PORT)], `iperf3-${rs.role}.log`);
  }
  for (const rs of RS)
    await waitFor(
      () => listening(c, rs.role, HTTP_PORT) && listening(c, rs.role, IPERF_PORT),
      10_000,
      `nginx and iperf3 in ${rs.role} (${readText(join(run.dir, `nginx-${rs.role}.err`)).trim()})`,
    );
}

export interface CheckResult {
  readonly ok: boolean;
  /** e.g. "rs1 3, rs2 3; 10 MB intact" or what went wrong. */
  readonly text: string;
}

/**
 * Before measuring: requests, one connection each, must all be answered and reach both real
 * servers; then /big.bin must arrive whole.
 */
export async function checkSetup(c: SetupCtx, s: Setup): Promise<CheckResult> {
  const run = c.run;
  const seen: string[] = [];
  // Until both real servers have answered (rr alternates; nftables DSR hashes the client port, so
  // it may take a few): at most 12 requests, every one of which must be answered. The first
  // request to a real server may wait for ARP somewhere on the path: one retry each.
  for (let i = 0; i < 12 && !(seen.includes('rs1') && seen.includes('rs2')); i++) {
    const host = s.httpHosts[i % 2];
    let body = await run.curl('client', `http://${host}/`, undefined, 3);
    if (body === null) {
      await sleep(500);
      body = await run.curl('client', `http://${host}/`, undefined, 3);
    }
    seen.push(body === null ? 'FAILED' : body.trim());
    if (body === null) break;
  }
  const n1 = seen.filter((x) => x === 'rs1').length;
  const n2 = seen.filter((x) => x === 'rs2').length;
  if (n1 + n2 !== seen.length) return { ok: false, text: `requests: ${seen.join(' ')}` };
  if (n1 === 0 || n2 === 0) return { ok: false, text: `only one real server answered: ${seen.join(' ')}` };
  const r = await run.run(
    'client',
    'curl',
    [
      '-s',
      '--max-time',
      '20',
      '-o',
      '/dev/null',
      '-w',
      '%{size_download}',
      `http://${s.httpHosts[0]}/big.bin`,
    ],
    25_000,
  );
  const size = Number(r.stdout.trim());
  if (r.code !== 0 || size !== BIG_BYTES)
    return { ok: false, text: `GET /big.bin: ${size} of ${BIG_BYTES} bytes (curl exit ${r.code})` };
  return { ok: true, text: `rs1 ${n1}, rs2 ${n2}; /big.bin ${BIG_BYTES >> 20} MB whole` };
}
