/**
 * Counters kept per service, per dest and in total (struct ip_vs_stats): connections, packets and
 * bytes in each direction. Doubles count exactly up to 2^53, far beyond any uptime.
 * The rate estimator state lives beside them (see stats/estimator.ts).
 */
export class Stats {
  conns = 0;
  inpkts = 0;
  outpkts = 0;
  inbytes = 0;
  outbytes = 0;
  // Estimator state (ip_vs_estimator): last sampled totals and scaled averages.
  lastConns = 0;
  lastInpkts = 0;
  lastOutpkts = 0;
  lastInbytes = 0;
  lastOutbytes = 0;
  /** Scaled rates: cps/inpps/outpps by 2^10, inbps/outbps by 2^5 (ip_vs_est.c). */
  cps = 0;
  inpps = 0;
  outpps = 0;
  inbps = 0;
  outbps = 0;

  /** -Z: zero the counters and restart the estimator from them (ip_vs_zero_stats). */
  zero(): void {
    this.conns = this.inpkts = this.outpkts = this.inbytes = this.outbytes = 0;
    this.lastConns = this.lastInpkts = this.lastOutpkts = this.lastInbytes = this.lastOutbytes = 0;
    this.cps = this.inpps = this.outpps = this.inbps = this.outbps = 0;
  }
}
