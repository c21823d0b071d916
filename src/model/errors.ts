/**
 * Operator-facing failures of the IPVS control operations, one class with a stable `code`, the
 * errno the kernel would return, and ipvsadm's message for it (libipvs ipvs_strerror), so the CLI
 * can print exactly what ipvsadm prints.
 */

export const IpvsErrorCode = {
  SERVICE_EXISTS: 'LVS_ERR_SERVICE_EXISTS',
  NO_SCHEDULER: 'LVS_ERR_NO_SCHEDULER',
  NO_SERVICE: 'LVS_ERR_NO_SERVICE',
  SERVICE_NOT_DEFINED: 'LVS_ERR_SERVICE_NOT_DEFINED',
  DEST_EXISTS: 'LVS_ERR_DEST_EXISTS',
  NO_DEST: 'LVS_ERR_NO_DEST',
  WEIGHT_RANGE: 'LVS_ERR_WEIGHT_RANGE',
  THRESHOLD_RANGE: 'LVS_ERR_THRESHOLD_RANGE',
  TUNNEL_PORT_ZERO: 'LVS_ERR_TUNNEL_PORT_ZERO',
  INVALID: 'LVS_ERR_INVALID',
  AF_NOT_SUPPORTED: 'LVS_ERR_AF_NOT_SUPPORTED',
  TOO_MANY_DESTS: 'LVS_ERR_TOO_MANY_DESTS',
} as const;
export type IpvsErrorCode = (typeof IpvsErrorCode)[keyof typeof IpvsErrorCode];

const errnoOf: Record<IpvsErrorCode, string> = {
  LVS_ERR_SERVICE_EXISTS: 'EEXIST',
  LVS_ERR_NO_SCHEDULER: 'ENOENT',
  LVS_ERR_NO_SERVICE: 'ESRCH',
  LVS_ERR_SERVICE_NOT_DEFINED: 'ESRCH',
  LVS_ERR_DEST_EXISTS: 'EEXIST',
  LVS_ERR_NO_DEST: 'ENOENT',
  LVS_ERR_WEIGHT_RANGE: 'ERANGE',
  LVS_ERR_THRESHOLD_RANGE: 'ERANGE',
  LVS_ERR_TUNNEL_PORT_ZERO: 'EINVAL',
  LVS_ERR_INVALID: 'EINVAL',
  LVS_ERR_AF_NOT_SUPPORTED: 'EAFNOSUPPORT',
  LVS_ERR_TOO_MANY_DESTS: 'EINVAL',
};

/** What ipvsadm prints for each (libipvs.c ipvs_strerror, and strerror() for ERANGE). */
const ipvsadmMessage: Record<IpvsErrorCode, string> = {
  LVS_ERR_SERVICE_EXISTS: 'Service already exists',
  LVS_ERR_NO_SCHEDULER: 'Scheduler or persistence engine not found',
  LVS_ERR_NO_SERVICE: 'No such service',
  LVS_ERR_SERVICE_NOT_DEFINED: 'Service not defined',
  LVS_ERR_DEST_EXISTS: 'Destination already exists',
  LVS_ERR_NO_DEST: 'No such destination',
  LVS_ERR_WEIGHT_RANGE: 'Numerical result out of range',
  LVS_ERR_THRESHOLD_RANGE: 'Numerical result out of range',
  LVS_ERR_TUNNEL_PORT_ZERO: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  LVS_ERR_INVALID: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  LVS_ERR_AF_NOT_SUPPORTED: 'Operation not supported with specified address family',
  LVS_ERR_TOO_MANY_DESTS: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
};

/** Base class of every operator-facing tslvs error. */
export class LvsError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'LvsError';
    this.code = code;
  }
}

export class IpvsError extends LvsError {
  readonly errno: string;
  /** The line ipvsadm would print to stderr for this failure. */
  readonly ipvsadmMessage: string;
  constructor(code: IpvsErrorCode, detail: string) {
    super(code, detail);
    this.name = 'IpvsError';
    this.errno = errnoOf[code];
    this.ipvsadmMessage = ipvsadmMessage[code];
  }
}
