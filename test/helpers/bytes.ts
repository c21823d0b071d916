/** Test helpers for frames: hex goldens and poisoned buffers. */

/** Hex text (whitespace, newlines and `#` comments allowed) → bytes. */
export function hex(text: string): Uint8Array {
  const clean = text
    .split('\n')
    .map((l) => l.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error('bad hex golden');
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function toHex(b: Uint8Array, off = 0, len = b.length - off): string {
  return Buffer.from(b.buffer, b.byteOffset + off, len).toString('hex');
}

/** A buffer filled with 0xa5 (smoltcp's poison), so an emitter that skips a byte is caught. */
export function poisoned(len: number): Uint8Array {
  return new Uint8Array(len).fill(0xa5);
}
