/**
 * The master side of connection synchronisation (ip_vs_sync.c): decides, packet by packet, which
 * conns a backup must learn about (ip_vs_sync_conn_needed), writes them into the current message
 * (ip_vs_sync_conn, ip_vs_sync_conn_v0) and hands full or 2-second-old messages to a transport.
 *
 * The packet path calls syncConn(table, cid, pkts) after counting the packet in the conn's in_pkts.
 * Nothing is allocated per call: one preallocated message buffer, per-table typed arrays for the
 * conn state the kernel keeps in struct ip_vs_conn (old_state, sync_endtime), a reused scratch
 * entry. `send` must copy or send the bytes before it returns: the buffer is reused at once.
 */
import { SctpState } from '../conn/proto-sctp.ts';
import { TcpState } from '../conn/proto-tcp.ts';
import type { ConnTable } from '../conn/table.ts';
import { ConnAddr } from '../conn/table.ts';
import { IPPROTO_SCTP, IPPROTO_TCP } from '../conn/types.ts';
import { ConnFlag } from '../model/flags.ts';
import type { SyncConnRepr } from './msg.ts';
import {
  SYNC_FLUSH_TIME_MS,
  SYNC_FULL,
  SYNC_MAX_CONN_LEN,
  SYNC_V1_HLEN,
  newSyncConnRepr,
  syncAppend,
  syncMsgCount,
  syncMsgInit,
  syncMsgSize,
} from './msg.ts';

export interface SyncMasterOptions {
  /** Written into every message; backups with another non-zero syncid ignore them. 0..255. */
  syncid: number;
  /** Largest message in bytes (sync_maxlen; default 1472, the IPv4 group's 1500 - 20 - 8). */
  maxlen?: number;
  /** sync_version: 1 (default) or the legacy 0. May be changed later through `version`. */
  version?: 0 | 1;
  /** sync_threshold[0] (default 3). */
  threshold?: number;
  /** sync_threshold[1] (default 50); 0 sends once, at the threshold, and on state changes. */
  period?: number;
  /** sync_refresh_period in ms (default 0: off). */
  refreshPeriodMs?: number;
  /** sync_retries, 0..3 (default 0). */
  retries?: number;
  /** sync_persist_mode (default 0): 1 = conns under a persistence template are not sent. */
  persistMode?: number;
  /** The injected clock, ms. */
  now: () => number;
  /** Sends `len` bytes of `buf`; must be done with `buf` on return. False: the message was dropped. */
  send: (buf: Uint8Array, len: number) => boolean | void;
}

export interface SyncMasterCounters {
  /** Messages handed to the transport and accepted. */
  messages: number;
  /** Bytes in those messages. */
  bytes: number;
  /** Conn entries written into messages. */
  conns: number;
  /** Messages the transport refused (returned false or threw); their conns are lost. */
  dropped: number;
}

/** What the kernel keeps per conn for the sync decision, here per table in typed arrays. */
interface ConnSyncState {
  t: ConnTable;
  /** cp->old_state: the state at the last sync. */
  oldState: Uint8Array;
  /** cp->sync_endtime without its low retry bits: when, at the last sync, the conn was due to expire. */
  syncEnd: Float64Array;
  /** The low bits of cp->sync_endtime: resends done within one refresh period. */
  retries: Uint8Array;
}

/** TCP states in which a conn is worth syncing (ip_vs_sync_conn_needed). */
const TCP_SYNC_STATES =
  (1 << TcpState.ESTABLISHED) |
  (1 << TcpState.FIN_WAIT) |
  (1 << TcpState.CLOSE) |
  (1 << TcpState.CLOSE_WAIT) |
  (1 << TcpState.TIME_WAIT);

const SCTP_SYNC_STATES =
  (1 << SctpState.ESTABLISHED) |
  (1 << SctpState.SHUTDOWN_SENT) |
  (1 << SctpState.SHUTDOWN_RECEIVED) |
  (1 << SctpState.SHUTDOWN_ACK_SENT) |
  (1 << SctpState.CLOSED);

/** A template chain longer than this is a bug somewhere; stop walking rather than loop. */
const MAX_CONTROL_DEPTH = 8;

function uint(v: number, name: string, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name}: ${v}`);
  return v;
}

export class SyncMaster {
  readonly syncid: number;
  readonly maxlen: number;
  /** sync_version; a change takes effect with the next conn (a pending message of the other version is sent first). */
  version: 0 | 1;
  threshold: number;
  period: number;
  refreshPeriodMs: number;
  retries: number;
  persistMode: number;
  readonly counters: SyncMasterCounters = { messages: 0, bytes: 0, conns: 0, dropped: 0 };

  private readonly now: () => number;
  private readonly send: (buf: Uint8Array, len: number) => boolean | void;
  /** The message being filled (struct ip_vs_sync_buff), sized for maxlen or one longest conn. */
  private readonly buf: Uint8Array;
  /** Version of the message in `buf`. */
  private bufVersion: 0 | 1;
  /** When the first conn went into the current message (sb->firstuse). */
  private firstUse = 0;
  private readonly scratch: SyncConnRepr = newSyncConnRepr();
  private readonly states: ConnSyncState[] = [];

  constructor(o: SyncMasterOptions) {
    this.syncid = uint(o.syncid, 'syncid', 255);
    this.maxlen = uint(o.maxlen ?? 1472, 'maxlen', 65535);
    if (this.maxlen < 1) throw new RangeError('maxlen: 0');
    this.version = o.version ?? 1;
    this.threshold = o.threshold ?? 3;
    this.period = o.period ?? 50;
    this.refreshPeriodMs = o.refreshPeriodMs ?? 0;
    this.retries = o.retries ?? 0;
    this.persistMode = o.persistMode ?? 0;
    this.now = o.now;
    this.send = o.send;
    this.buf = new Uint8Array(Math.max(this.maxlen, SYNC_V1_HLEN + SYNC_MAX_CONN_LEN));
    this.bufVersion = this.version;
    syncMsgInit(this.buf, 0, this.bufVersion, this.syncid);
  }

  /** Conns in the message not sent yet. */
  get pendingConns(): number {
    return syncMsgCount(this.buf, 0, this.bufVersion);
  }

  /** Bytes of the message not sent yet. */
  get pendingBytes(): number {
    return syncMsgSize(this.buf, 0);
  }

  /**
   * The packet path's hook (ip_vs_sync_conn), called with `pkts` = the conn's in_pkts after this
   * packet was counted. Queues the conn if connNeeded says so; then, in v1, walks up to its
   * controlling template and queues that too by the same rule, counting one more packet on it.
   */
  syncConn(t: ConnTable, id: number, pkts: number): void {
    if (this.version === 0) {
      this.syncConnV0(t, id, pkts);
      return;
    }
    let cp = id;
    let n = pkts;
    for (let depth = 0; depth < MAX_CONTROL_DEPTH; depth++) {
      // ip_vs_sync_conn: one-packet conns are never sent, but their template still is.
      if ((t.getFlags(cp) & ConnFlag.ONE_PACKET) === 0 && this.connNeeded(t, cp, n)) this.append(t, cp);
      const ct = t.controlOf(cp);
      if (ct < 0 || !t.isAlive(ct)) return;
      n = (t.getFlags(ct) & ConnFlag.TEMPLATE) !== 0 ? t.incInPkts(ct) : this.threshold;
      cp = ct;
    }
  }

  /** ip_vs_sync_conn_v0: IPv4 only, and the template follows only a conn that was sent. */
  private syncConnV0(t: ConnTable, id: number, pkts: number): void {
    if (t.af !== 4) return;
    let cp = id;
    let n = pkts;
    for (let depth = 0; depth < MAX_CONTROL_DEPTH; depth++) {
      if ((t.getFlags(cp) & ConnFlag.ONE_PACKET) !== 0) return;
      if (!this.connNeeded(t, cp, n)) return;
      this.append(t, cp);
      const ct = t.controlOf(cp);
      if (ct < 0 || !t.isAlive(ct)) return;
      n = (t.getFlags(ct) & ConnFlag.TEMPLATE) !== 0 ? t.incInPkts(ct) : this.threshold;
      cp = ct;
    }
  }

  /**
   * ip_vs_sync_conn_needed: should conn `id`, at its `pkts`-th packet, be sent now? TCP and SCTP
   * conns only in their settled states, a change into any of them but ESTABLISHED at once;
   * otherwise every `period` packets from the `threshold`-th, thinned by the refresh period when
   * one is set. Templates are sent whenever asked (they are asked by their controlled conns).
   * A yes records the state and expiry it was sent with, as the kernel does.
   */
  connNeeded(t: ConnTable, id: number, pkts: number): boolean {
    const s = this.stateOf(t);
    const now = this.now();
    // A conn's first packet: a new conn, possibly in a reused slot (ip_vs_conn_new's defaults).
    if (pkts === 1) {
      s.oldState[id] = 0;
      s.syncEnd[id] = now;
      s.retries[id] = 0;
    }
    const flags = t.getFlags(id);
    const state = t.getState(id);
    const timeout = t.getTimeout(id);
    const n = now + timeout;
    let newRetries = 0;
    let rateCheck = true;
    if ((flags & ConnFlag.TEMPLATE) === 0) {
      if (this.persistMode !== 0 && this.inPersistence(t, id)) return false;
      const proto = t.protoOf(id);
      if (proto === IPPROTO_TCP || proto === IPPROTO_SCTP) {
        const ok = proto === IPPROTO_TCP ? TCP_SYNC_STATES : SCTP_SYNC_STATES;
        if (state > 31 || ((1 << state) & ok) === 0) return false;
        const est = proto === IPPROTO_TCP ? TcpState.ESTABLISHED : SctpState.ESTABLISHED;
        // Any state change but into ESTABLISHED is sent right away. (The kernel also lets a
        // state change through when another CPU updated the sync time first; no race here.)
        if (state !== s.oldState[id] && state !== est) rateCheck = false;
      }
    }
    if (rateCheck) {
      const refresh = this.refreshPeriodMs;
      if (refresh > 0) {
        const orig = s.syncEnd[id];
        const minDiff = Math.max(timeout / 2, 10_000);
        if (Math.abs(n - orig) < Math.min(refresh, minDiff)) {
          const r = s.retries[id];
          if (r >= this.retries) return false;
          if (now < orig - timeout + refresh / 8) return false;
          newRetries = r + 1;
        }
      }
      if (this.period > 0) {
        if ((flags & ConnFlag.TEMPLATE) === 0 && pkts % this.period !== this.threshold) return false;
      } else if (refresh === 0 && pkts !== this.threshold) {
        return false;
      }
    }
    s.oldState[id] = state;
    s.syncEnd[id] = n;
    s.retries[id] = newRetries;
    return true;
  }

  /** in_persistence: some conn up the control chain is a template. */
  private inPersistence(t: ConnTable, id: number): boolean {
    let c = t.controlOf(id);
    for (let depth = 0; c >= 0 && depth < MAX_CONTROL_DEPTH; depth++) {
      if ((t.getFlags(c) & ConnFlag.TEMPLATE) !== 0) return true;
      c = t.controlOf(c);
    }
    return false;
  }

  private stateOf(t: ConnTable): ConnSyncState {
    const st = this.states;
    for (let i = 0; i < st.length; i++) if (st[i].t === t) return st[i];
    // Once per table, at its first conn.
    const s: ConnSyncState = {
      t,
      oldState: new Uint8Array(t.maxEntries),
      syncEnd: new Float64Array(t.maxEntries),
      retries: new Uint8Array(t.maxEntries),
    };
    st.push(s);
    return s;
  }

  /** Write conn `id` into the current message, sending the message first if it is full. */
  private append(t: ConnTable, id: number): void {
    const c = this.scratch;
    c.af = t.af;
    c.proto = t.protoOf(id);
    c.flags = (t.getFlags(id) & ~ConnFlag.HASHED) >>> 0;
    c.state = t.getState(id);
    c.cport = t.cportOf(id);
    c.vport = t.vportOf(id);
    c.dport = t.dportOf(id);
    c.fwmark = t.fwmarkOf(id);
    c.timeout = Math.floor(t.getTimeout(id) / 1000);
    if (t.af === 4) {
      c.caddr = t.caddr4(id);
      c.vaddr = t.vaddr4(id);
      c.daddr = t.daddr4(id);
    } else {
      t.readAddr6(ConnAddr.C, id, c.caddr6!, 0);
      t.readAddr6(ConnAddr.V, id, c.vaddr6!, 0);
      t.readAddr6(ConnAddr.D, id, c.daddr6!, 0);
    }
    // After a sync_version change the pending message of the old version goes out first.
    if (this.bufVersion !== this.version) {
      this.flush();
      this.bufVersion = this.version;
      syncMsgInit(this.buf, 0, this.bufVersion, this.syncid);
    }
    let n = syncAppend(this.buf, 0, this.maxlen, c);
    if (n === SYNC_FULL) {
      this.flush();
      n = syncAppend(this.buf, 0, this.maxlen, c);
    }
    if (n !== SYNC_FULL) {
      if (this.pendingConns === 1) this.firstUse = this.now();
      this.counters.conns++;
    }
  }

  /**
   * The master thread's timer (next_sync_buff): send the current message once it has waited
   * IPVS_SYNC_FLUSH_TIME (2 s) since its first conn. Call about once a second.
   */
  tick(now: number): void {
    if (this.pendingConns > 0 && now - this.firstUse >= SYNC_FLUSH_TIME_MS) this.flush();
  }

  /** Send the current message now if it holds any conn, and start an empty one. */
  flush(): void {
    const len = syncMsgSize(this.buf, 0);
    if (this.pendingConns > 0) {
      let ok: boolean | void;
      try {
        ok = this.send(this.buf, len);
      } catch {
        ok = false;
      }
      if (ok === false) {
        this.counters.dropped++;
      } else {
        this.counters.messages++;
        this.counters.bytes += len;
      }
    }
    syncMsgInit(this.buf, 0, this.bufVersion, this.syncid);
  }

  /** Forget the current message unsent (stop_sync_thread releases it the same way). */
  discard(): void {
    syncMsgInit(this.buf, 0, this.bufVersion, this.syncid);
  }
}
