/**
 * The connection-related sysctls (/proc/sys/net/ipv4/vs/*), as one mutable object that the table
 * and the packet pipeline both read on every use, so a change applies at once like a sysctl write.
 * Defaults are the kernel's (ip_vs_ctl.c, Documentation/networking/ipvs-sysctl.rst).
 */
export interface ConnSettings {
  /** expire_nodest_conn: expire a conn whose dest is gone on its next packet (the pipeline). */
  expireNodestConn: number;
  /** expire_quiescent_template: a template pointing at a weight-0 dest is invalid (checkTemplate). */
  expireQuiescentTemplate: number;
  /** conn_reuse_mode: bit 1 reschedule a reused port when safe, bit 2 also FIN_WAIT for DR/TUN. */
  connReuseMode: number;
  /**
   * secure_tcp: 0 off, 1 automatic (inactive), 2 automatic (active), 3 always. The defence
   * state table is in use while the value is above 1 (update_defense_level).
   */
  secureTcp: number;
  /** sloppy_tcp: schedule TCP on any packet, not only SYN (the pipeline). */
  sloppyTcp: number;
  /** sloppy_sctp: schedule SCTP on any chunk, not only INIT (the pipeline). */
  sloppySctp: number;
}

export function defaultConnSettings(): ConnSettings {
  return {
    expireNodestConn: 0,
    expireQuiescentTemplate: 0,
    connReuseMode: 1,
    secureTcp: 0,
    sloppyTcp: 0,
    sloppySctp: 0,
  };
}

/** update_defense_level: ip_vs_protocol_timeout_change(ipvs, sysctl_secure_tcp > 1). */
export function secureTcpActive(s: ConnSettings): boolean {
  return s.secureTcp > 1;
}
