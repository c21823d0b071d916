/**
 * The daemon's control operations, behind the control socket: every ipvsadm command the
 * daemon executes, and the snapshots listings are printed from. The daemon is the only writer of
 * its tables; each command is validated before anything changes (the ServiceTable guarantees
 * that per operation), and a failure answers with ipvsadm's own message and exit status.
 */
import type { IpvsadmCommand } from '../cli/ipvsadm/args.ts';
import type { IpvsSnapshot } from '../cli/ipvsadm/format.ts';
import { snapshotFromCore } from '../cli/ipvsadm/format-snapshot.ts';
import { ApplyFailure, applyCommand } from '../cli/rules.ts';
import type { ConnTable } from '../conn/table.ts';
import type { Timeouts } from '../conn/timeouts.ts';
import { parseIpvsadm } from '../cli/ipvsadm/args.ts';
import type { ResolveHost, ResolveService } from '../cli/ipvsadm/resolve.ts';
import { ControlError } from '../ipc/server.ts';
import { IpvsError } from '../model/errors.ts';
import type { ServiceTable } from './services.ts';
import { ipAddrToString } from '../model/addr.ts';
import { SyncError } from '../sync/socket.ts';
import type { SyncDaemonConfig, SyncDaemonInfo } from '../sync/index.ts';

/** ipvsadm returns the libipvs result (-1) from main: exit status 255. */
const KERNEL_FAIL_EXIT = 255;

/** What the control API needs from the running director. */
export interface ControlTarget {
  readonly services: ServiceTable;
  readonly timeouts: Timeouts;
  /** Every connection table (both families, every worker). */
  conns(): readonly ConnTable[];
  now(): number;
  /** The connection hash table size the listing header shows. */
  readonly connTabSize: number;
  /** Called after every successful change (workers re-read, pools reset, GARP for new VIPs). */
  changed?(cmd: IpvsadmCommand): void;
  /** Extra status for `op: status` (may be a promise). */
  status?(): unknown;
  /** After a command succeeded here: hand its command line on (worker threads apply it too). */
  forward?(argv: readonly string[]): void;
  /** Listings gathered from elsewhere (worker threads) instead of from these tables. */
  snapshotAsync?(withConns: boolean): Promise<IpvsSnapshot>;
  /** The connection sync daemons (`--start-daemon`, `--stop-daemon`, `--daemon`); absent: refused. */
  readonly sync?: SyncControl;
  /** Name lookups for rules that use host or service names (default: none resolve). */
  readonly resolveHost?: ResolveHost;
  readonly resolveService?: ResolveService;
}

/** What the control API needs from the sync daemons (src/sync/index.ts SyncDaemons, wrapped). */
export interface SyncControl {
  start(kind: 'master' | 'backup', cfg: SyncDaemonConfig): Promise<unknown>;
  stop(kind: 'master' | 'backup'): Promise<void>;
  list(): SyncDaemonInfo[];
}

const MUTATING = new Set([
  'add-service',
  'edit-service',
  'delete-service',
  'flush',
  'add-server',
  'edit-server',
  'delete-server',
  'set-timeout',
  'zero',
  'add-laddr',
  'del-laddr',
]);

export class ControlApi {
  private readonly t: ControlTarget;

  constructor(target: ControlTarget) {
    this.t = target;
  }

  /** The control-socket handler: `command`, `snapshot`, `status`. */
  handle(op: string, args: unknown): unknown {
    switch (op) {
      case 'command':
        return this.command(args);
      case 'snapshot': {
        const withConns =
          typeof args === 'object' && args !== null && (args as { conns?: unknown }).conns === true;
        return this.t.snapshotAsync !== undefined
          ? this.t.snapshotAsync(withConns)
          : this.snapshot(withConns);
      }
      case 'status':
        return this.t.status?.() ?? {};
      default:
        throw new ControlError({ code: 'PROTO_UNKNOWN_OP', message: `unknown operation ${op}`, exitCode: 1 });
    }
  }

  snapshot(withConns: boolean): IpvsSnapshot {
    const t = this.t;
    return snapshotFromCore(t.services, withConns ? t.conns() : [], t.now(), t.timeouts.get(), {
      connTabSize: t.connTabSize,
      daemons: (t.sync?.list() ?? []).map((d) => ({
        state: d.state,
        mcastIfn: d.mcastIfn,
        syncId: d.syncid,
        syncMaxlen: d.maxlen,
        mcastGroup: d.group,
        mcastPort: d.port,
        mcastTtl: d.ttl,
      })),
    });
  }

  /**
   * `{argv}`: one ipvsadm command line (without the program name). The daemon parses it itself
   * with the same parser the tool uses, so nothing the socket carries is trusted unchecked.
   */
  private command(args: unknown): Promise<null> | null {
    const argv = (args as { argv?: unknown } | null)?.argv;
    if (
      !Array.isArray(argv) ||
      argv.length > 256 ||
      !argv.every((a) => typeof a === 'string' && a.length < 4096)
    ) {
      throw new ControlError({
        code: 'PROTO_BAD_ARGS',
        message: 'command needs argv: string[]',
        exitCode: 2,
      });
    }
    const r = parseIpvsadm(argv as string[], {
      restoreMode: true,
      resolveHost: this.t.resolveHost,
      resolveService: this.t.resolveService,
    });
    if (!r.ok)
      throw new ControlError({
        code: 'LVS_ERR_USAGE',
        message: r.message.replace(/\n$/, ''),
        exitCode: r.exitCode,
      });
    const cmd = r.cmd;
    if (cmd.kind === 'noop') return null;
    if (cmd.kind === 'start-daemon' || cmd.kind === 'stop-daemon') return this.daemonCommand(cmd);
    if (!MUTATING.has(cmd.kind)) {
      throw new ControlError({
        code: 'PROTO_BAD_ARGS',
        message: `command ${cmd.kind} is not executed by the daemon`,
        exitCode: 2,
      });
    }
    try {
      if (cmd.kind === 'set-timeout') {
        // ip_vs_set_timeout: 0 keeps a value; an out-of-range one refuses the whole call.
        if (!this.t.timeouts.set(cmd.tcp, cmd.tcpFin, cmd.udp))
          throw new IpvsError('LVS_ERR_INVALID', 'timeout out of range');
      } else {
        applyCommand(this.t.services, cmd);
      }
    } catch (e) {
      if (e instanceof IpvsError)
        throw new ControlError({ code: e.code, message: e.ipvsadmMessage, exitCode: KERNEL_FAIL_EXIT });
      if (e instanceof ApplyFailure)
        throw new ControlError({
          code: 'LVS_ERR_LADDR',
          message: e.ipvsadmMessage,
          exitCode: KERNEL_FAIL_EXIT,
        });
      throw e;
    }
    this.t.forward?.(argv as string[]);
    this.t.changed?.(cmd);
    return null;
  }

  /**
   * ipvs_start_daemon / ipvs_stop_daemon: the kernel's errors come back with libipvs's words
   * ("Daemon has already run", "No daemon is running", "No such device") and ipvsadm's exit 255.
   */
  private async daemonCommand(cmd: IpvsadmCommand & { kind: 'start-daemon' | 'stop-daemon' }): Promise<null> {
    const sync = this.t.sync;
    if (sync === undefined)
      throw new ControlError({
        code: 'LVS_ERR_NOT_SUPPORTED',
        message: 'Connection synchronisation is not available in this daemon',
        exitCode: KERNEL_FAIL_EXIT,
      });
    const d = cmd.daemon;
    try {
      if (cmd.kind === 'start-daemon') {
        await sync.start(d.state, {
          mcastIfn: d.mcastIfn,
          syncid: d.syncId,
          maxlen: d.syncMaxlen,
          group: d.mcastGroup === null ? undefined : ipAddrToString(d.mcastGroup),
          port: d.mcastPort,
          ttl: d.mcastTtl,
        });
      } else {
        await sync.stop(d.state);
      }
    } catch (e) {
      if (e instanceof SyncError)
        throw new ControlError({ code: e.errno, message: e.ipvsadmMessage, exitCode: KERNEL_FAIL_EXIT });
      throw e;
    }
    return null;
  }
}
