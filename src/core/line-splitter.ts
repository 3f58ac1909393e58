// Text that arrives in chunks, handed on in whole lines: UTF-8 decoded across chunk borders (a character split between
// two chunks stays whole), each line at most maxChars (a longer one is handed on in pieces of maxChars, so a program
// that never writes a newline cannot make the buffer grow), the "\n" not included (a "\r" before it stays: the
// caller decides what a carriage return means). No imports beyond Node's own.
import { StringDecoder } from 'node:string_decoder';

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';

  constructor(private readonly maxChars: number, private readonly onLine: (line: string) => void) {
    if (!(maxChars >= 1)) throw new RangeError('LineSplitter: maxChars must be at least 1');
  }

  push(chunk: Buffer | string): void {
    this.buf += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0 || this.buf.length > this.maxChars) {
      if (nl < 0 || nl > this.maxChars) {
        const piece = this.buf.slice(0, this.maxChars);
        this.buf = this.buf.slice(this.maxChars);
        this.onLine(piece);
        continue;
      }
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.onLine(line);
    }
  }

  /** The input ended: what is left (a last line without a newline) is handed on. */
  end(): void {
    this.buf += this.decoder.end();
    if (this.buf) { const last = this.buf; this.buf = ''; this.onLine(last); }
  }
}
