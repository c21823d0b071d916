/**
 * The sync daemons' UDP multicast transport over node:dgram, set up as ip_vs_sync.c does it:
 *
 * - master (make_send_sock): multicast out of the named interface, loopback off, the configured
 *   TTL, bound to the interface's IPv4 address, connected to group:port;
 * - backup (make_receive_sock): address reuse on, bound to group:port, member of the group on
 *   the named interface; datagrams longer than the backup's maxlen arrive cut to maxlen (the
 *   kernel reads into a maxlen buffer), which the receiver then refuses for their size.
 *
 * Node cannot bind a socket to a device (the kernel's backup sets sk_bound_dev_if) nor choose
 * IP_PMTUDISC_DONT; the group membership on the interface is what selects the traffic here.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { LvsError } from '../model/errors.ts';
import { SYNC_GROUP4, SYNC_PORT } from './msg.ts';

/** A failed daemon operation, with the errno the kernel returns and what ipvsadm prints for it. */
export class SyncError extends LvsError {
  readonly errno: string;
  readonly ipvsadmMessage: string;
  constructor(errno: string, message: string) {
    super(errno, message);
    this.name = 'SyncError';
    this.errno = errno;
    this.ipvsadmMessage = IPVSADM_MESSAGES[errno] ?? message;
  }
}

/** libipvs ipvs_strerror for the daemon calls, else strerror(). */
const IPVSADM_MESSAGES: Record<string, string> = {
  EEXIST: 'Daemon has already run',
  ESRCH: 'No daemon is running',
  ENODEV: 'No such device',
  EINVAL: 'Invalid argument',
  EADDRNOTAVAIL: 'Cannot assign requested address',
};

/** What the transport needs to know about the multicast interface. */
export interface McastInterface {
  name: string;
  /** Its first IPv4 address, or null (also while the link is down: libuv lists running interfaces only). */
  addr4: string | null;
  /** Its MTU (1500 if it cannot be read). */
  mtu: number;
}

/** IFNAMSIZ - 1 */
const IFNAME_MAX = 15;

/**
 * The interface called `name` in this network namespace, or null (the kernel's
 * __dev_get_by_name). Reads /sys/class/net and os.networkInterfaces().
 */
export function findInterface(name: string): McastInterface | null {
  if (name.length === 0 || name.length > IFNAME_MAX || name.includes('/') || name === '.' || name === '..')
    return null;
  const sys = `/sys/class/net/${name}`;
  const addrs = networkInterfaces()[name];
  if (!existsSync(sys) && addrs === undefined) return null;
  let addr4: string | null = null;
  for (const a of addrs ?? []) {
    if (a.family === 'IPv4') {
      addr4 = a.address;
      break;
    }
  }
  let mtu = 1500;
  try {
    const m = Number(readFileSync(`${sys}/mtu`, 'utf8').trim());
    if (Number.isInteger(m) && m > 0) mtu = m;
  } catch {
    // no sysfs: keep the Ethernet default
  }
  return { name, addr4, mtu };
}

/** Multicast group, port and TTL of a daemon; the kernel defaults fill what is left out. */
export interface SyncSocketConfig {
  mcastIfn: string;
  /** Default 224.0.0.81. */
  group?: string;
  /** Default 8848. */
  port?: number;
  /** Default 1. */
  ttl?: number;
  /** sync_sock_size: SO_SNDBUF (master) or SO_RCVBUF (backup) in bytes; 0 = system default. */
  sockSize?: number;
}

/** The group's address family, or 0 when `group` is not a multicast address. */
export function groupFamily(group: string): 0 | 4 | 6 {
  if (isIPv4(group)) {
    const first = Number(group.split('.')[0]);
    return first >= 224 && first <= 239 ? 4 : 0;
  }
  if (isIPv6(group)) return /^ff/i.test(group) ? 6 : 0;
  return 0;
}

function resolve(cfg: SyncSocketConfig): {
  ifc: McastInterface;
  group: string;
  af: 4 | 6;
  port: number;
  ttl: number;
} {
  const group = cfg.group ?? SYNC_GROUP4;
  const af = groupFamily(group);
  if (af === 0) throw new SyncError('EINVAL', `not a multicast group: ${group}`);
  const port = cfg.port ?? SYNC_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SyncError('EINVAL', `bad port ${port}`);
  const ttl = cfg.ttl ?? 1;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new SyncError('EINVAL', `bad ttl ${ttl}`);
  const ifc = findInterface(cfg.mcastIfn);
  if (ifc === null) throw new SyncError('ENODEV', `Unknown mcast interface: ${cfg.mcastIfn}`);
  if (af === 4 && ifc.addr4 === null)
    throw new SyncError(
      'EADDRNOTAVAIL',
      `You probably need to specify IP address on multicast interface (${cfg.mcastIfn} has no IPv4 address, or is not running)`,
    );
  return { ifc, group, af, port, ttl };
}

function bound(sock: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolveP, reject) => {
    const onErr = (e: Error): void => reject(e);
    sock.once('error', onErr);
    sock.bind({ port, address, exclusive: true }, () => {
      sock.off('error', onErr);
      resolveP();
    });
  });
}

function closed(sock: Socket): Promise<void> {
  return new Promise((r) => {
    try {
      sock.close(() => r());
    } catch {
      r(); // already closed
    }
  });
}

export interface SyncSenderCounters {
  /** Datagrams handed to the socket. */
  sent: number;
  /** Sends that failed (reported by the socket). */
  errors: number;
  /** Messages refused because every buffer was still in flight. */
  dropped: number;
}

/**
 * The master's socket. send() copies the message into one of a fixed set of buffers (the
 * kernel's queue of sync buffers, bounded like sync_qlen_max) and returns at once; the buffer
 * comes back when the socket is done with it.
 */
export class SyncSender {
  readonly group: string;
  readonly port: number;
  readonly ttl: number;
  readonly mcastIfn: string;
  readonly counters: SyncSenderCounters = { sent: 0, errors: 0, dropped: 0 };
  private readonly sock: Socket;
  private readonly free: Buffer[] = [];
  private readonly bufLen: number;
  private closing = false;

  private constructor(
    sock: Socket,
    ifn: string,
    group: string,
    port: number,
    ttl: number,
    bufLen: number,
    pool: number,
  ) {
    this.sock = sock;
    this.mcastIfn = ifn;
    this.group = group;
    this.port = port;
    this.ttl = ttl;
    this.bufLen = bufLen;
    for (let i = 0; i < pool; i++) this.free.push(Buffer.allocUnsafe(bufLen));
    sock.on('error', () => this.counters.errors++);
  }

  /**
   * Opens the master socket. `maxMessage` is the longest message send() will be given; `pool` the
   * number of messages that may be in flight at once (default 32).
   */
  static async open(cfg: SyncSocketConfig, maxMessage: number, pool = 32): Promise<SyncSender> {
    const r = resolve(cfg);
    const sock = createSocket({
      type: r.af === 4 ? 'udp4' : 'udp6',
      ...(cfg.sockSize ? { sendBufferSize: cfg.sockSize } : {}),
    });
    try {
      if (r.af === 4) {
        await bound(sock, 0, r.ifc.addr4!);
        sock.setMulticastInterface(r.ifc.addr4!);
      } else {
        await bound(sock, 0, '::');
        sock.setMulticastInterface(`::%${r.ifc.name}`);
      }
      sock.setMulticastLoopback(false);
      sock.setMulticastTTL(r.ttl);
      await new Promise<void>((res, rej) => {
        const onErr = (e: Error): void => rej(e);
        sock.once('error', onErr);
        sock.connect(r.port, r.group, () => {
          sock.off('error', onErr);
          res();
        });
      });
    } catch (e) {
      await closed(sock);
      throw e;
    }
    return new SyncSender(sock, r.ifc.name, r.group, r.port, r.ttl, maxMessage, pool);
  }

  /** Queue `len` bytes of `buf` (copied); false when the message had to be dropped. */
  send(buf: Uint8Array, len: number): boolean {
    if (this.closing || len > this.bufLen) {
      this.counters.dropped++;
      return false;
    }
    const out = this.free.pop();
    if (out === undefined) {
      this.counters.dropped++;
      return false;
    }
    out.set(buf.subarray(0, len), 0);
    this.counters.sent++;
    this.sock.send(out, 0, len, (err) => {
      if (err) this.counters.errors++;
      this.free.push(out);
    });
    return true;
  }

  /** The local address the socket sends from. */
  address(): { address: string; port: number } {
    const a = this.sock.address();
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await closed(this.sock);
  }
}

export interface SyncReceiverCounters {
  /** Datagrams received. */
  received: number;
  /** Of those, longer than maxlen (handed on cut to maxlen). */
  oversized: number;
  /** Socket errors. */
  errors: number;
}

/** The backup's socket: hands every datagram to `onMessage`. */
export class SyncReceiver {
  readonly group: string;
  readonly port: number;
  readonly mcastIfn: string;
  readonly maxlen: number;
  readonly counters: SyncReceiverCounters = { received: 0, oversized: 0, errors: 0 };
  private readonly sock: Socket;
  private closing = false;

  private constructor(sock: Socket, ifn: string, group: string, port: number, maxlen: number) {
    this.sock = sock;
    this.mcastIfn = ifn;
    this.group = group;
    this.port = port;
    this.maxlen = maxlen;
  }

  static async open(
    cfg: SyncSocketConfig,
    maxlen: number,
    onMessage: (b: Uint8Array, len: number) => void,
  ): Promise<SyncReceiver> {
    const r = resolve(cfg);
    const sock = createSocket({
      type: r.af === 4 ? 'udp4' : 'udp6',
      reuseAddr: true,
      ...(cfg.sockSize ? { recvBufferSize: cfg.sockSize } : {}),
    });
    const rx = new SyncReceiver(sock, r.ifc.name, r.group, r.port, maxlen);
    sock.on('error', () => rx.counters.errors++);
    sock.on('message', (msg: Buffer) => {
      rx.counters.received++;
      let len = msg.length;
      if (len > maxlen) {
        rx.counters.oversized++;
        len = maxlen;
      }
      onMessage(msg, len);
    });
    try {
      await new Promise<void>((res, rej) => {
        const onErr = (e: Error): void => rej(e);
        sock.once('error', onErr);
        // Bound to the group (IPv4) so only its datagrams arrive, as the kernel's backup socket.
        sock.bind({ port: r.port, address: r.af === 4 ? r.group : '::' }, () => {
          sock.off('error', onErr);
          res();
        });
      });
      if (r.af === 4) sock.addMembership(r.group, r.ifc.addr4!);
      else sock.addMembership(r.group, `::%${r.ifc.name}`);
    } catch (e) {
      await closed(sock);
      throw e;
    }
    return rx;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await closed(this.sock);
  }
}
