/**
 * UDP in IPVS (ip_vs_proto_udp.c): one state, "UDP", whose timeout is refreshed by every packet.
 * The state never changes, so a UDP conn keeps the INACTIVE flag it was born with and always counts
 * in the dest's InActConn.
 */
import type { ConnTable } from './table.ts';
import { Dir } from './types.ts';

/** IP_VS_UDP_S_* */
export const UdpState = { NORMAL: 0 } as const;
/** udp_state_name_table */
export const UDP_STATE_NAMES: readonly string[] = ['UDP'];
/** udp_timeouts: 5 minutes. */
export const UDP_DEFAULT_TIMEOUT_S = 300;

/** udp_state_transition: refresh the timeout; a reply assures the controlling template. */
export function udpStateTransition(t: ConnTable, id: number, dir: Dir): void {
  t.setTimeout(id, t.timeouts.udp[UdpState.NORMAL]);
  if (dir === Dir.OUTPUT) t.assureControl(id);
}
