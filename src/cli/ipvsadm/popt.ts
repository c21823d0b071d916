/**
 * The subset of popt's poptGetNextOpt() that ipvsadm relies on, with popt 1.19's exact rules
 * (read from rpm-software-management/popt src/popt.c), because ipvsadm's accepted syntax and its
 * error text are whatever popt makes of the argv:
 *
 * - `--name` and `--name=value`; long names match exactly (no abbreviations). A single dash never
 *   matches a long name: `-tcp-service` is the cluster t,c,p,...
 * - short clusters `-Ln`; an option that takes an argument eats the rest of the cluster
 *   (`-t10.0.0.1:80`, one leading `=` dropped: `-t=10.0.0.1:80`), else the next argv element,
 *   whatever it looks like (`-t -x` gives the service "-x").
 * - an optional argument (ipvsadm's `-p [timeout]`) takes the rest of the cluster or `=value`,
 *   else the next argv element unless it starts with `-` (any other text is taken, even "foo").
 * - `--` ends the options; `-` and anything not starting with `-` is a leftover argument; options
 *   and leftovers may be interleaved (leftovers are collected, as without POSIXLY_CORRECT).
 * - `!#:+` inside an option argument is replaced by the next non-option argv element, which is
 *   then skipped (popt's expandNextArg). When there is none but argv is not used up (say only
 *   options follow), popt's findNextArg loops forever: getNextOpt reports that as HANG.
 *
 * Aliases and exec entries come from popt config files, which ipvsadm never reads.
 */

export type PoptArg = 'none' | 'string' | 'optional';

export interface PoptOption {
  readonly long: string | null;
  /** One character, or null. */
  readonly short: string | null;
  readonly arg: PoptArg;
  /** What getNextOpt returns for this option (> 0). */
  readonly val: number;
}

/** popt error codes (popt.h POPT_ERROR_*), as getNextOpt returns them. */
export const PoptError = {
  NOARG: -10,
  BADOPT: -11,
  UNWANTEDARG: -12,
  /** Not popt's: the call would never return (see expandNextArg). */
  HANG: -1000,
} as const;

/** poptStrerror() for the codes getNextOpt can return here. */
export function poptStrerror(code: number): string {
  switch (code) {
    case PoptError.NOARG:
      return 'missing argument';
    case PoptError.BADOPT:
      return 'unknown option';
    case PoptError.UNWANTEDARG:
      return 'option does not take an argument';
    default:
      return 'unknown error';
  }
}

export class PoptContext {
  private readonly argv: readonly string[];
  private readonly table: readonly PoptOption[];
  private readonly posixlyCorrect: boolean;
  /** Index of the next argv element (argv[0], the program name, is not in `argv`). */
  private next = 0;
  /** The unread rest of a short-option cluster. */
  private charRest: string | null = null;
  private restLeftover = false;
  private readonly leftovers: string[] = [];
  private nextLeftover = 0;
  /** argv elements already used up by a `!#:+` expansion. */
  private readonly consumed = new Set<number>();
  /** Set when an expansion would have looped forever. */
  private hung = false;
  /** The argument of the option last returned (null when it has none). */
  optArg: string | null = null;

  constructor(argv: readonly string[], table: readonly PoptOption[], posixlyCorrect = false) {
    this.argv = argv;
    this.table = table;
    this.posixlyCorrect = posixlyCorrect;
  }

  /** The next option's `val`; -1 at the end; a PoptError code (< -1) on a bad option. */
  getNextOpt(): number {
    for (;;) {
      let opt: PoptOption | null = null;
      let longArg: string | null = null;
      if (this.charRest === null) {
        if (this.next === this.argv.length) return -1;
        if (this.consumed.has(this.next)) {
          this.next++;
          continue;
        }
        const tok = this.argv[this.next++];
        if (this.restLeftover || tok[0] !== '-' || tok === '-') {
          if (this.posixlyCorrect) this.restLeftover = true;
          this.leftovers.push(tok);
          continue;
        }
        if (tok === '--') {
          this.restLeftover = true;
          continue;
        }
        const twoDash = tok[1] === '-';
        const body = tok.slice(twoDash ? 2 : 1);
        const eq = body.indexOf('=');
        if (twoDash) {
          opt = this.findLong(eq < 0 ? body : body.slice(0, eq));
          if (opt === null) return PoptError.BADOPT;
          if (eq >= 0) longArg = body.slice(eq + 1);
        } else {
          // No option here is marked ONEDASH, so a single dash always starts a short cluster.
          this.charRest = body;
        }
      }
      if (this.charRest !== null) {
        const cluster = this.charRest;
        this.charRest = null;
        opt = this.findShort(cluster[0]);
        if (opt === null) return PoptError.BADOPT;
        if (cluster.length > 1) this.charRest = cluster.slice(1);
      }
      if (opt === null) return PoptError.BADOPT;

      if (opt.arg === 'none') {
        if (longArg !== null || (this.charRest !== null && this.charRest[0] === '='))
          return PoptError.UNWANTEDARG;
        this.optArg = null;
      } else if (longArg !== null) {
        this.optArg = this.expandNextArg(longArg);
      } else if (this.charRest !== null) {
        const rest = this.charRest;
        this.charRest = null;
        this.optArg = this.expandNextArg(rest[0] === '=' ? rest.slice(1) : rest);
      } else if (this.next === this.argv.length) {
        if (opt.arg !== 'optional') return PoptError.NOARG;
        this.optArg = null;
      } else if (opt.arg === 'optional' && this.argv[this.next][0] === '-') {
        this.optArg = null;
      } else {
        this.optArg = this.expandNextArg(this.argv[this.next++]);
      }
      return this.hung ? PoptError.HANG : opt.val;
    }
  }

  /** poptBadOption(con, POPT_BADOPTION_NOALIAS): the argv element read last. */
  badOption(): string {
    return this.next > 0 ? this.argv[this.next - 1] : '';
  }

  /** poptGetArg(): the next leftover argument, or null. */
  getArg(): string | null {
    return this.nextLeftover < this.leftovers.length ? this.leftovers[this.nextLeftover++] : null;
  }

  private findLong(name: string): PoptOption | null {
    for (const o of this.table) if (o.long === name) return o;
    return null;
  }

  private findShort(ch: string): PoptOption | null {
    for (const o of this.table) if (o.short === ch) return o;
    return null;
  }

  // popt expandNextArg: each "!#:+" becomes the next unused argv element that does not start with
  // '-'; that element is then skipped by the option scan. Without one, the text stays as it is.
  private expandNextArg(s: string): string {
    if (!s.includes('!#:+')) return s;
    let out = '';
    let sub: string | null = null;
    let i = 0;
    while (i < s.length) {
      const ch = s[i++];
      if (ch === '!' && s.startsWith('#:+', i)) {
        if (sub === null) sub = this.takeNextArg();
        if (sub !== null) {
          out += sub;
          i += 3;
          continue;
        }
      }
      out += ch;
    }
    return out;
  }

  private takeNextArg(): string | null {
    for (let i = this.next; i < this.argv.length; i++) {
      if (this.consumed.has(i) || this.argv[i][0] === '-') continue;
      this.consumed.add(i);
      return this.argv[i];
    }
    // popt only gives up when argv is used up; otherwise it rescans the same elements forever.
    if (this.next < this.argv.length) this.hung = true;
    return null;
  }
}
