/**
 * The backup side of connection synchronisation (ip_vs_sync.c ip_vs_process_message,
 * ip_vs_proc_sync_conn, ip_vs_proc_conn): applies a master's sync messages to the local
 * connection tables, so that if this director takes over, packets of those conns find their conn
 * and go to the same real server.
 *
 * Each entry either updates the conn the backup already has (flags INACTIVE and SEQ, state,
 * timeout) or creates it with the SYNC flag, bound to the local dest with the same address and
 * port in the matching local service (ip_vs_find_dest). A conn with no such dest is created
 * unbound, as the kernel does. Differences from the kernel, because the tables have no place for
 * them: entries with persistence-engine data (sip) are skipped, FullNAT conns are skipped (a
 * backup would need its own local address and port for them), and an existing unbound conn is
 * not bound later (ip_vs_try_bind_dest).
 */
import { SCTP_STATE_COUNT } from '../conn/proto-sctp.ts';
import { TCP_STATE_COUNT } from '../conn/proto-tcp.ts';
import type { ConnTable } from '../conn/table.ts';
import { ConnAddr } from '../conn/table.ts';
import type { ConnParam } from '../conn/types.ts';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, newConnParam } from '../conn/types.ts';
import type { ServiceTable } from '../control/services.ts';
import type { Dest } from '../model/dest.ts';
import { ConnFlag, FWD_MASK, Fwd } from '../model/flags.ts';
import type { Service } from '../model/service.ts';
import { u32 } from '../wire/bytes.ts';
import { SyncConnFlag, SyncReader, SyncResult, syncCheck } from './msg.ts';

export interface SyncBackupOptions {
  /** Accept only messages with this syncid; 0 accepts every message. 0..255. */
  syncid: number;
  conns4: ConnTable;
  conns6: ConnTable;
  services: ServiceTable;
  /** The injected clock, ms. */
  now: () => number;
  /** sync_threshold[0] (default 3): what a synced conn's in_pkts is set to. */
  threshold?: number;
}

export interface SyncBackupCounters {
  /** Well-formed messages for our syncid, applied. */
  messages: number;
  /** Messages refused by syncCheck (nothing of them applied). */
  bad: number;
  /** Well-formed messages for another syncid, ignored. */
  otherSyncid: number;
  /** Conns created from entries. */
  created: number;
  /** Existing conns updated from entries. */
  updated: number;
  /**
   * Entries not applied: unknown mandatory option, unsupported protocol, invalid state, PE data,
   * FullNAT, a template with a client port.
   */
  skipped: number;
  /** Late entries for a tuple already moved to another dest, ignored (an INACTIVE entry). */
  stale: number;
  /** Existing conns expired because the master moved their tuple to another dest. */
  replaced: number;
  /** Conns created without a local dest (no matching service or dest). */
  unbound: number;
  /** Entries lost because the connection table was full. */
  tableFull: number;
}

/** ip_vs_proc_conn without a timeout (v0, or v1 timeout 0) for a template: 3 minutes. */
const TEMPLATE_TIMEOUT_MS = 180_000;
/** Longest timeout the table stores (uint32 ms), in whole seconds. */
const MAX_TIMEOUT_S = Math.floor(0xffffffff / 1000);

/** Number of protocol states, 0 for protocols IPVS does not sync (pp->num_states). */
function stateCount(proto: number): number {
  switch (proto) {
    case IPPROTO_TCP:
      return TCP_STATE_COUNT;
    case IPPROTO_UDP:
      return 1;
    case IPPROTO_SCTP:
      return SCTP_STATE_COUNT;
    default:
      return 0;
  }
}

export class SyncBackup {
  readonly syncid: number;
  readonly threshold: number;
  readonly counters: SyncBackupCounters = {
    messages: 0,
    bad: 0,
    otherSyncid: 0,
    created: 0,
    updated: 0,
    skipped: 0,
    stale: 0,
    replaced: 0,
    unbound: 0,
    tableFull: 0,
  };
  /** Result of the last receive(). */
  lastResult: SyncResult = SyncResult.OK;

  private readonly conns4: ConnTable;
  private readonly conns6: ConnTable;
  private readonly services: ServiceTable;
  private readonly now: () => number;
  private readonly reader = new SyncReader();
  private readonly param: ConnParam = newConnParam();
  private readonly a6 = new Uint8Array(16);

  constructor(o: SyncBackupOptions) {
    if (!Number.isInteger(o.syncid) || o.syncid < 0 || o.syncid > 255)
      throw new RangeError(`syncid: ${o.syncid}`);
    this.syncid = o.syncid;
    this.threshold = o.threshold ?? 3;
    this.conns4 = o.conns4;
    this.conns6 = o.conns6;
    this.services = o.services;
    this.now = o.now;
  }

  /**
   * ip_vs_process_message: one received datagram, `len` bytes at `off`. Returns OK when it was
   * applied (some entries may still have been skipped, see the counters), SYNCID_MISMATCH when it
   * was for another syncid, or why it was refused. Never throws on any bytes.
   */
  receive(b: Uint8Array, off: number, len: number): SyncResult {
    const res = syncCheck(b, off, len);
    this.lastResult = res;
    if (res !== SyncResult.OK) {
      this.counters.bad++;
      return res;
    }
    if (this.syncid !== 0 && b[off + 1] !== this.syncid) {
      this.counters.otherSyncid++;
      this.lastResult = SyncResult.SYNCID_MISMATCH;
      return SyncResult.SYNCID_MISMATCH;
    }
    this.counters.messages++;
    const r = this.reader;
    r.reset(b, off, len);
    const now = this.now();
    while (r.next()) this.applyEntry(r, now);
    return SyncResult.OK;
  }

  /** ip_vs_proc_sync_conn / ip_vs_process_message_v0 for one entry, then ip_vs_proc_conn. */
  private applyEntry(r: SyncReader, now: number): void {
    const c = this.counters;
    if (r.unknownOpt >= 0) {
      c.skipped++;
      return;
    }
    const flags =
      r.version === 1
        ? ((r.flags & SyncConnFlag.BACKUP_MASK) | ConnFlag.SYNC) >>> 0
        : ((r.flags | ConnFlag.SYNC) & ~ConnFlag.HASHED) >>> 0;
    const template = (flags & ConnFlag.TEMPLATE) !== 0;
    const state = r.state;
    if (!template && state >= stateCount(r.proto)) {
      c.skipped++;
      return;
    }
    // No table here keeps persistence-engine data, and a template without it would match
    // clients it should not; a template's key has no client port.
    if (r.peDataOff >= 0 || (template && r.cport !== 0)) {
      c.skipped++;
      return;
    }
    const t = r.af === 4 ? this.conns4 : this.conns6;
    const b = r.b;
    let id: number;
    if (r.af === 4) {
      id = template
        ? t.lookupTemplate(r.proto, r.caddr4(), r.vaddr4(), r.vport)
        : t.lookupIn(r.proto, r.caddr4(), r.cport, r.vaddr4(), r.vport);
    } else {
      id = template
        ? t.lookupTemplate6(r.proto, b, r.caddrOff, b, r.vaddrOff, r.vport)
        : t.lookupIn6(r.proto, b, r.caddrOff, r.cport, b, r.vaddrOff, r.vport);
    }
    if (id >= 0 && !template && !this.sameDest(t, id, r)) {
      // The master moved this tuple to another real server. A live entry replaces the old conn;
      // an INACTIVE one is the old conn's last word, arriving late.
      if ((flags & ConnFlag.INACTIVE) !== 0) {
        c.stale++;
        return;
      }
      t.expireNow(id, now);
      c.replaced++;
      id = -1;
    }
    if (id >= 0) {
      this.update(t, id, flags);
    } else {
      id = this.create(t, r, flags, now);
      if (id < 0) return;
    }
    // Tail of ip_vs_proc_conn: in_pkts = sync_threshold, state, timeout, timer.
    t.setInPkts(id, this.threshold);
    t.setState(id, state > 255 ? 255 : state);
    t.setTimeout(id, this.timeoutMs(t, r, flags, state));
    t.put(id, now);
  }

  /** The conn's dest address and port are the entry's. */
  private sameDest(t: ConnTable, id: number, r: SyncReader): boolean {
    if (t.dportOf(id) !== r.dport) return false;
    if (r.af === 4) return t.daddr4(id) === r.daddr4();
    const a = this.a6;
    t.readAddr6(ConnAddr.D, id, a, 0);
    for (let i = 0; i < 16; i++) if (a[i] !== r.b[r.daddrOff + i]) return false;
    return true;
  }

  /** The cp-found branch of ip_vs_proc_conn: only INACTIVE and the SEQ bits change. */
  private update(t: ConnTable, id: number, flags: number): void {
    const cur = t.getFlags(id);
    const di = t.destOf(id);
    const d = di >= 0 ? t.dests.get(di) : undefined;
    if (((cur ^ flags) & ConnFlag.INACTIVE) !== 0 && (flags & ConnFlag.TEMPLATE) === 0 && d !== undefined) {
      if ((flags & ConnFlag.INACTIVE) !== 0) {
        d.activeConns--;
        d.inactConns++;
      } else {
        d.activeConns++;
        d.inactConns--;
      }
      d.loadChanged();
    }
    const upd = SyncConnFlag.BACKUP_UPD_MASK;
    t.setFlags(id, ((flags & upd) | (cur & ~upd)) >>> 0);
    this.counters.updated++;
  }

  /** The new-conn branch of ip_vs_proc_conn: ip_vs_find_dest, then ip_vs_conn_new. */
  private create(t: ConnTable, r: SyncReader, flags: number, now: number): number {
    const dest = this.findDest(r, flags);
    const fwd = dest !== null ? dest.fwd : flags & FWD_MASK;
    if (fwd === Fwd.FULLNAT) {
      this.counters.skipped++;
      return -1;
    }
    const p = this.param;
    const b = r.b;
    p.proto = r.proto;
    p.cport = r.cport;
    p.vport = r.vport;
    p.dport = r.dport;
    p.lport = r.cport;
    p.fwmark = r.fwmark;
    p.flags = flags;
    p.destId = dest !== null ? dest.id : -1;
    if (r.af === 4) {
      p.caddr = r.caddr4();
      p.vaddr = r.vaddr4();
      p.daddr = r.daddr4();
      p.laddr = p.caddr;
    } else {
      for (let i = 0; i < 16; i++) {
        p.caddr6[i] = b[r.caddrOff + i];
        p.vaddr6[i] = b[r.vaddrOff + i];
        p.daddr6[i] = b[r.daddrOff + i];
        p.laddr6[i] = p.caddr6[i];
      }
    }
    const id = t.insert(p, now);
    if (id < 0) {
      this.counters.tableFull++;
      return -1;
    }
    this.counters.created++;
    if (dest === null) this.counters.unbound++;
    return id;
  }

  /**
   * ip_vs_find_dest: the local service by <proto, vaddr, vport> or fwmark, then its dest with
   * the entry's address and port. For a fwmark service not in NAT mode real servers may be
   * configured without a port, so port 0 is tried first, then the entry's port.
   */
  private findDest(r: SyncReader, flags: number): Dest | null {
    let svc: Service | null;
    if (r.af === 4) {
      svc = this.services.find4(r.proto, r.vaddr4(), r.vport, r.fwmark);
    } else {
      const b = r.b;
      const o = r.vaddrOff;
      const fold = (u32(b, o) ^ u32(b, o + 4) ^ u32(b, o + 8) ^ u32(b, o + 12)) >>> 0;
      svc = this.services.find6(r.proto, b, o, fold, r.vport, r.fwmark);
    }
    if (svc === null) return null;
    const port = r.fwmark !== 0 && (flags & FWD_MASK) !== Fwd.MASQ ? 0 : r.dport;
    return this.lookupDest(svc, r, port) ?? this.lookupDest(svc, r, port ^ r.dport);
  }

  /** ip_vs_lookup_dest: a dest of `svc` (trash excluded) with the entry's daddr and `port`. */
  private lookupDest(svc: Service, r: SyncReader, port: number): Dest | null {
    const b = r.b;
    const ds = svc.dests;
    for (let k = 0; k < ds.length; k++) {
      const d = ds[k];
      if (d.port !== port || d.addr.af !== r.af) continue;
      if (r.af === 4) {
        if (d.addr.v4 === r.daddr4()) return d;
        continue;
      }
      const a = d.addr.v6!;
      let i = 0;
      while (i < 16 && a[i] === b[r.daddrOff + i]) i++;
      if (i === 16) return d;
    }
    return null;
  }

  /** The conn's timeout: the entry's (v1), else the protocol's for the state, or 3 min for a template. */
  private timeoutMs(t: ConnTable, r: SyncReader, flags: number, state: number): number {
    if (r.timeout !== 0) return (r.timeout > MAX_TIMEOUT_S ? MAX_TIMEOUT_S : r.timeout) * 1000;
    if ((flags & ConnFlag.TEMPLATE) !== 0) return TEMPLATE_TIMEOUT_MS;
    switch (r.proto) {
      case IPPROTO_TCP:
        return t.timeouts.tcp[state];
      case IPPROTO_UDP:
        return t.timeouts.udp[state];
      case IPPROTO_SCTP:
        return t.timeouts.sctp[state];
      default:
        return TEMPLATE_TIMEOUT_MS;
    }
  }
}
