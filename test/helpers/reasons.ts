/** Every Reason value, for checking that a validator on garbage returns a known verdict. */
import { Reason } from '../../src/wire/reason.ts';

export const REASONS: ReadonlySet<number> = new Set<number>(Object.values(Reason));
