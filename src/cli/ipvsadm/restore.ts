/**
 * How `ipvsadm -R` cuts its input into command lines (config_stream_read in ipvsadm's
 * config_stream.c, driven by restore_table): tokens are separated by runs of space, tab and CR;
 * a newline ends the line; a token that is exactly "ipvsadm" is dropped (so saved files may start
 * each line with the program name); a line left with no tokens is skipped. There is no comment
 * syntax: '#' is an ordinary character. A token longer than 4096 bytes is cut into 4096-byte
 * pieces (the fscanf field width).
 */

const MAX_TOKEN_BYTES = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function isDelim(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
}

function pushToken(out: string[], tok: string): void {
  const bytes = encoder.encode(tok);
  if (bytes.length <= MAX_TOKEN_BYTES) {
    if (tok !== 'ipvsadm') out.push(tok);
    return;
  }
  for (let i = 0; i < bytes.length; i += MAX_TOKEN_BYTES) {
    const piece = decoder.decode(bytes.subarray(i, i + MAX_TOKEN_BYTES));
    if (piece !== 'ipvsadm') out.push(piece);
  }
}

/**
 * The argv (without the program name) of one input line; an empty array means restore skips the
 * line. The line should not contain '\n' (if it does, it is treated as another separator).
 */
export function splitRestoreLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && isDelim(line[i])) i++;
    const start = i;
    while (i < line.length && !isDelim(line[i])) i++;
    if (i > start) pushToken(out, line.slice(start, i));
  }
  return out;
}

/**
 * Every command line `ipvsadm -R` would run for this whole input, in order, including the way
 * config_stream_read stops: the input ends at the end of the text, and a last line that has no
 * newline and ends in two or more whitespace characters is lost (the whitespace-skipping loop
 * hits end of file and discards the line).
 */
export function splitRestoreInput(text: string): string[][] {
  const lines: string[][] = [];
  let pos = 0;
  const n = text.length;
  for (;;) {
    const toks: string[] = [];
    let atEnd = false;
    for (;;) {
      if (pos >= n) {
        // fscanf returns EOF: hand back what this line has, or stop if it has nothing.
        atEnd = toks.length === 0;
        break;
      }
      if (isDelim(text[pos])) {
        // fscanf matches nothing; skip blanks by hand until a newline, a token or EOF.
        let lineDone = false;
        for (;;) {
          if (pos >= n) return lines;
          const c = text[pos++];
          if (c === '\n') {
            lineDone = true;
            break;
          }
          if (c !== ' ' && c !== '\t' && c !== '\r') {
            pos--;
            break;
          }
        }
        if (lineDone) break;
        continue;
      }
      const start = pos;
      while (pos < n && !isDelim(text[pos])) pos++;
      pushToken(toks, text.slice(start, pos));
      // The token is followed by exactly one delimiter character (if any is left).
      const tail = pos < n ? text[pos++] : '';
      if (tail === '\n') break;
    }
    if (atEnd) return lines;
    if (toks.length > 0) lines.push(toks);
  }
}
