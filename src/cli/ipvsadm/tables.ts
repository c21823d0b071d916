/**
 * ipvsadm's command and option tables: the names its messages use (cmdnames[], optnames[]), the
 * command × option legality matrix (commands_v_options) and the tunnel-type × tunnel-option
 * matrix (tunnel_types_v_options), from ipvsadm.c 1.31. Each matrix row is a string with one
 * character per option column: '+' compulsory, 'x' illegal, '1' at most one of the '1' options,
 * ' ' optional.
 *
 * Extensions (not in ipvsadm 1.31), appended after the upstream rows and columns so that upstream
 * command lines meet the upstream checks in the upstream order:
 * - DPVS's FullNAT local-address commands, long forms only: `--add-laddr`, `--del-laddr`,
 *   `--get-laddr` (DPVS also gives them -P/-Q/-G), with the options `--laddr` (DPVS -z, optname
 *   "local-address") and `--ifname` (DPVS -F). DPVS makes --ifname compulsory; here it is optional
 *   because the director can find the interface that owns the address itself.
 * - `--json` for the list command (long only; not in DPVS either).
 */

/** Commands, in cmdnames[] order (CMD_ADD = 1 is index 0). */
export const CMD_NAMES = [
  'add-service',
  'edit-service',
  'delete-service',
  'flush',
  'list',
  'add-server',
  'delete-server',
  'edit-server',
  'set',
  'start-daemon',
  'stop-daemon',
  'restore',
  'save',
  'zero',
  // DPVS extension
  'add-laddr',
  'del-laddr',
  'get-laddr',
] as const;
export type CmdName = (typeof CMD_NAMES)[number];

/** Command numbers as ipvsadm uses them (CMD_NONE = 0). */
export const Cmd = {
  NONE: 0,
  ADD: 1,
  EDIT: 2,
  DEL: 3,
  FLUSH: 4,
  LIST: 5,
  ADDDEST: 6,
  DELDEST: 7,
  EDITDEST: 8,
  TIMEOUT: 9,
  STARTDAEMON: 10,
  STOPDAEMON: 11,
  RESTORE: 12,
  SAVE: 13,
  ZERO: 14,
  ADDLADDR: 15,
  DELLADDR: 16,
  GETLADDR: 17,
} as const;

/** Option columns, in optnames[] order; the bit of column i is 2^i. */
export const OPT_NAMES = [
  'numeric',
  'connection',
  'service-address',
  'scheduler',
  'persistent',
  'netmask',
  'real-server',
  'forwarding-method',
  'weight',
  'u-threshold',
  'l-threshold',
  'mcast-interface',
  'timeout',
  'daemon',
  'stats',
  'rate',
  'thresholds',
  'persistent-conn',
  'nosort',
  'syncid',
  'exact',
  'ops',
  'pe',
  'sched-flags',
  'mcast-group',
  'mcast-port',
  'mcast-ttl',
  'sync-maxlen',
  'tun-info',
  'tun-type',
  'tun-port',
  'tun-nocsum',
  'tun-csum',
  'tun-remcsum',
  // extensions
  'local-address',
  'ifname',
  'json',
] as const;

/** Option column numbers (OPTC_*). */
export const Optc = {
  NUMERIC: 0,
  CONNECTION: 1,
  SERVICE: 2,
  SCHEDULER: 3,
  PERSISTENT: 4,
  NETMASK: 5,
  SERVER: 6,
  FORWARD: 7,
  WEIGHT: 8,
  UTHRESHOLD: 9,
  LTHRESHOLD: 10,
  MCAST: 11,
  TIMEOUT: 12,
  DAEMON: 13,
  STATS: 14,
  RATE: 15,
  THRESHOLDS: 16,
  PERSISTENTCONN: 17,
  NOSORT: 18,
  SYNCID: 19,
  EXACT: 20,
  ONEPACKET: 21,
  PE: 22,
  SCHED_FLAGS: 23,
  MCAST_GROUP: 24,
  MCAST_PORT: 25,
  MCAST_TTL: 26,
  SYNC_MAXLEN: 27,
  TUN_INFO: 28,
  TUN_TYPE: 29,
  TUN_PORT: 30,
  TUN_NOCSUM: 31,
  TUN_CSUM: 32,
  TUN_REMCSUM: 33,
  LADDR: 34,
  IFNAME: 35,
  JSON: 36,
} as const;

// Upstream columns (34), then local-address, ifname, json.
// prettier-ignore
export const LEGALITY: readonly string[] = [
  /* add-service    */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx' + 'xxx',
  /* edit-service   */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx' + 'xxx',
  /* delete-service */ 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + 'xxx',
  /* flush          */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + 'xxx',
  /* list           */ ' 11xxxxxxxxx11       xxxxxxx xxxxx' + 'xx ',
  /* add-server     */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     ' + 'xxx',
  /* delete-server  */ 'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx' + 'xxx',
  /* edit-server    */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     ' + 'xxx',
  /* set            */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + 'xxx',
  /* start-daemon   */ 'xxxxxxxxxxx xxxxxxx xxxx    xxxxxx' + 'xxx',
  /* stop-daemon    */ 'xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx' + 'xxx',
  /* restore        */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + 'xxx',
  /* save           */ ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + 'xxx',
  /* zero           */ 'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + 'xxx',
  /* add-laddr      */ 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + '+ x',
  /* del-laddr      */ 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + '+ x',
  /* get-laddr      */ 'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + 'xxx',
];

/** Tunnel types (IP_VS_CONN_F_TUNNEL_TYPE_*), in tunnames[] order. */
export const TUN_NAMES = ['ipip', 'gue', 'gre'] as const;

/** The option columns of the tunnel matrix: tun-port, tun-nocsum, tun-csum, tun-remcsum. */
export const TUN_OPT_COLUMNS = [Optc.TUN_PORT, Optc.TUN_NOCSUM, Optc.TUN_CSUM, Optc.TUN_REMCSUM] as const;

// prettier-ignore
export const TUN_LEGALITY: readonly string[] = [
  /* ipip */ 'xxxx',
  /* gue  */ '+111',
  /* gre  */ 'x11x',
];
