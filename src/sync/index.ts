/**
 * The sync daemons of one director (ip_vs_sync.c start_sync_thread / stop_sync_thread): at most
 * one master and one backup, which may run at the same time. This is what `ipvsadm
 * --start-daemon`, `--stop-daemon` and `--daemon` act on.
 *
 * start() fills in the kernel defaults (group 224.0.0.81, port 8848, TTL 1, maxlen from the MTU)
 * so that list() reports them the way a modern kernel does, and fails with the kernel's errors:
 * ENODEV for an unknown interface, EEXIST for a second daemon of a kind, ESRCH when stopping one
 * that is not running, EINVAL for bad parameters.
 */
import type { ConnTable } from '../conn/table.ts';
import type { ServiceTable } from '../control/services.ts';
import { ipAddrToString, parseIpAddr } from '../model/addr.ts';
import { SyncBackup } from './backup.ts';
import { SyncMaster } from './master.ts';
import { SYNC_GROUP4, SYNC_MAX_CONN_LEN, SYNC_PORT, SYNC_V1_HLEN } from './msg.ts';
import type { SyncSocketConfig } from './socket.ts';
import { SyncError, SyncReceiver, SyncSender, findInterface, groupFamily } from './socket.ts';

export type SyncKind = 'master' | 'backup';

/** What `ipvsadm --start-daemon` passes; left-out fields take the kernel defaults. */
export interface SyncDaemonConfig {
  mcastIfn: string;
  /** 0..255; 0 (the default) on a backup accepts every syncid. */
  syncid?: number;
  /** sync_maxlen: 0 or absent = from the MTU. */
  maxlen?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/** One running daemon, as `ipvsadm --daemon` prints it. */
export interface SyncDaemonInfo {
  state: SyncKind;
  mcastIfn: string;
  syncid: number;
  maxlen: number;
  group: string;
  port: number;
  ttl: number;
}

/** The sync sysctls (/proc/sys/net/ipv4/vs/sync_*), read when a daemon starts. */
export interface SyncSysctls {
  /** sync_version (1) */
  version: 0 | 1;
  /** sync_threshold (3 50) */
  threshold: number;
  period: number;
  /** sync_refresh_period in seconds (0) */
  refreshPeriod: number;
  /** sync_retries (0) */
  retries: number;
  /** sync_persist_mode (0) */
  persistMode: number;
  /** sync_sock_size (0) */
  sockSize: number;
}

export function defaultSyncSysctls(): SyncSysctls {
  return { version: 1, threshold: 3, period: 50, refreshPeriod: 0, retries: 0, persistMode: 0, sockSize: 0 };
}

/** A master transport: SyncSender, or a stand-in in tests. */
export interface SyncMasterTransport {
  send(buf: Uint8Array, len: number): boolean;
  close(): Promise<void>;
}

/** A backup transport: SyncReceiver, or a stand-in in tests. */
export interface SyncBackupTransport {
  close(): Promise<void>;
}

export interface SyncDaemonsOptions {
  conns4: ConnTable;
  conns6: ConnTable;
  services: ServiceTable;
  now: () => number;
  /** Current sync sysctls (default: the kernel defaults). */
  sysctls?: () => SyncSysctls;
  /** The MTU of interface `name`, or null when there is no such interface (default: findInterface). */
  interfaceMtu?: (name: string) => number | null;
  /** Opens the master socket for messages up to `maxMessage` bytes (default: SyncSender.open). */
  openMaster?: (cfg: SyncSocketConfig, maxMessage: number) => Promise<SyncMasterTransport>;
  /** Opens the backup socket (default: SyncReceiver.open). */
  openBackup?: (
    cfg: SyncSocketConfig,
    maxlen: number,
    onMessage: (b: Uint8Array, len: number) => void,
  ) => Promise<SyncBackupTransport>;
}

interface Running<T, X> {
  info: SyncDaemonInfo;
  daemon: T;
  transport: X;
}

/** IPv4 + UDP and IPv6 + UDP header lengths (start_sync_thread's hlen). */
const HLEN4 = 20 + 8;
const HLEN6 = 40 + 8;

/**
 * start_sync_thread's defaults and clamps: the group, port and TTL the kernel stores when left at
 * 0, and sync_maxlen = the given value clamped to [1 (master) or 1024 (backup), 65535 - hlen], or
 * the MTU less the IP and UDP headers, with the MTU taken as 1500 for a master and the device's
 * (clamped to 1500..65535) for a backup.
 */
export function syncDaemonDefaults(kind: SyncKind, cfg: SyncDaemonConfig, ifMtu: number): SyncDaemonInfo {
  const given4 = cfg.group !== undefined && cfg.group !== '' ? cfg.group : SYNC_GROUP4;
  const af = groupFamily(given4);
  if (af === 0) throw new SyncError('EINVAL', `not a multicast group: ${given4}`);
  // As inet_ntop prints it back.
  const group = ipAddrToString(parseIpAddr(given4)!);
  const hlen = af === 6 ? HLEN6 : HLEN4;
  const mtu = kind === 'backup' ? Math.min(Math.max(ifMtu, 1500), 65535) : 1500;
  const minLen = kind === 'backup' ? 1024 : 1;
  const given = cfg.maxlen ?? 0;
  if (!Number.isInteger(given) || given < 0) throw new SyncError('EINVAL', `bad sync maxlen ${given}`);
  const maxlen = given !== 0 ? Math.min(Math.max(given, minLen), 65535 - hlen) : mtu - hlen;
  const syncid = cfg.syncid ?? 0;
  if (!Number.isInteger(syncid) || syncid < 0 || syncid > 255)
    throw new SyncError('EINVAL', `bad syncid ${syncid}`);
  const port = cfg.port !== undefined && cfg.port !== 0 ? cfg.port : SYNC_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SyncError('EINVAL', `bad port ${port}`);
  const ttl = cfg.ttl !== undefined && cfg.ttl !== 0 ? cfg.ttl : 1;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new SyncError('EINVAL', `bad ttl ${ttl}`);
  return { state: kind, mcastIfn: cfg.mcastIfn, syncid, maxlen, group, port, ttl };
}

export class SyncDaemons {
  private readonly o: SyncDaemonsOptions;
  private m: Running<SyncMaster, SyncMasterTransport> | null = null;
  private bk: Running<SyncBackup, SyncBackupTransport> | null = null;
  /** A start in progress holds its kind here, so a second start fails at once. */
  private readonly starting = new Set<SyncKind>();

  constructor(o: SyncDaemonsOptions) {
    this.o = o;
  }

  /** The running master, for the packet path's sync hook; null when none runs. */
  get master(): SyncMaster | null {
    return this.m?.daemon ?? null;
  }

  get backup(): SyncBackup | null {
    return this.bk?.daemon ?? null;
  }

  isRunning(kind: SyncKind): boolean {
    return kind === 'master' ? this.m !== null : this.bk !== null;
  }

  /** start_sync_thread. Resolves with what list() will report for the daemon. */
  async start(kind: SyncKind, cfg: SyncDaemonConfig): Promise<SyncDaemonInfo> {
    // The kernel's order: parameters (EINVAL), the interface (ENODEV), then EEXIST.
    const mtuOf = this.o.interfaceMtu ?? ((n: string) => findInterface(n)?.mtu ?? null);
    const mtu = mtuOf(cfg.mcastIfn);
    const info = syncDaemonDefaults(kind, cfg, mtu ?? 1500);
    if (mtu === null) throw new SyncError('ENODEV', `Unknown mcast interface: ${cfg.mcastIfn}`);
    if (this.isRunning(kind) || this.starting.has(kind))
      throw new SyncError('EEXIST', `${kind} sync daemon already running`);
    const sys = (this.o.sysctls ?? defaultSyncSysctls)();
    const sock: SyncSocketConfig = {
      mcastIfn: info.mcastIfn,
      group: info.group,
      port: info.port,
      ttl: info.ttl,
      sockSize: sys.sockSize,
    };
    this.starting.add(kind);
    try {
      if (kind === 'master') {
        const open = this.o.openMaster ?? ((c: SyncSocketConfig, n: number) => SyncSender.open(c, n));
        // A first conn longer than maxlen still goes out alone (a tiny maxlen), so size for it.
        const tx = await open(sock, Math.max(info.maxlen, SYNC_V1_HLEN + SYNC_MAX_CONN_LEN));
        const daemon = new SyncMaster({
          syncid: info.syncid,
          maxlen: info.maxlen,
          version: sys.version,
          threshold: sys.threshold,
          period: sys.period,
          refreshPeriodMs: sys.refreshPeriod * 1000,
          retries: sys.retries,
          persistMode: sys.persistMode,
          now: this.o.now,
          send: (b, n) => tx.send(b, n),
        });
        this.m = { info, daemon, transport: tx };
      } else {
        const daemon = new SyncBackup({
          syncid: info.syncid,
          conns4: this.o.conns4,
          conns6: this.o.conns6,
          services: this.o.services,
          now: this.o.now,
          threshold: sys.threshold,
        });
        const open = this.o.openBackup ?? ((c, n, f) => SyncReceiver.open(c, n, f));
        const rx = await open(sock, info.maxlen, (b, n) => void daemon.receive(b, 0, n));
        this.bk = { info, daemon, transport: rx };
      }
    } finally {
      this.starting.delete(kind);
    }
    return { ...info };
  }

  /** stop_sync_thread: a master's unsent message is dropped, as the kernel drops it. */
  async stop(kind: SyncKind): Promise<void> {
    if (kind === 'master') {
      const m = this.m;
      if (m === null) throw new SyncError('ESRCH', 'no master sync daemon is running');
      this.m = null;
      m.daemon.discard();
      await m.transport.close();
    } else {
      const bk = this.bk;
      if (bk === null) throw new SyncError('ESRCH', 'no backup sync daemon is running');
      this.bk = null;
      await bk.transport.close();
    }
  }

  /** What `ipvsadm --daemon` prints: the master first, then the backup. */
  list(): SyncDaemonInfo[] {
    const out: SyncDaemonInfo[] = [];
    if (this.m !== null) out.push({ ...this.m.info });
    if (this.bk !== null) out.push({ ...this.bk.info });
    return out;
  }

  /** Periodic work (about once a second): flush the master's message after 2 s. */
  tick(now: number): void {
    this.m?.daemon.tick(now);
  }

  /** Stop whatever runs. */
  async close(): Promise<void> {
    if (this.m !== null) await this.stop('master');
    if (this.bk !== null) await this.stop('backup');
  }
}

/** The `ipvsadm --daemon` line for one daemon (ipvsadm.c list_daemon, modern-kernel form). */
export function formatSyncDaemon(d: SyncDaemonInfo): string {
  return (
    `${d.state} sync daemon (mcast=${d.mcastIfn}, syncid=${d.syncid}, maxlen=${d.maxlen}, ` +
    `group=${d.group}, port=${d.port}, ttl=${d.ttl})`
  );
}

export { SyncError };
