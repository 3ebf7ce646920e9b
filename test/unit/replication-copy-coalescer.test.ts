import { describe, expect, it } from 'vitest';
import { CopyCoalescer } from '../../main/engine/replication/copy-coalescer.js';

describe('CopyCoalescer', () => {
  it('copies: later changes to the source do not reach what was handed out', () => {
    const coalescer = new CopyCoalescer(16);
    const source = Buffer.from('abcdef');
    expect(coalescer.append(source)).toEqual([]);
    source.fill(0);
    expect(coalescer.take()?.toString()).toBe('abcdef');
  });

  it('hands out full blocks at once and keeps the order across blocks and takes', () => {
    const coalescer = new CopyCoalescer(8);
    const out: Buffer[] = [];
    out.push(...coalescer.append(Buffer.from('0123')));
    out.push(coalescer.take() as Buffer);
    out.push(...coalescer.append(Buffer.from('456789abcdefghijklmnop')));
    expect(coalescer.pending).toBe(2);
    out.push(coalescer.take() as Buffer);
    expect(coalescer.take()).toBeNull();
    expect(out.map((b) => b.toString())).toEqual(['0123', '4567', '89abcdef', 'ghijklmn', 'op']);
  });

  it('never lets two handed-out pieces share bytes', () => {
    const coalescer = new CopyCoalescer(8);
    coalescer.append(Buffer.from('aa'));
    const first = coalescer.take() as Buffer;
    coalescer.append(Buffer.from('bbb'));
    const second = coalescer.take() as Buffer;
    second.fill('x');
    expect(first.toString()).toBe('aa');
    expect(second.toString()).toBe('xxx');
  });

  it('reuses whole blocks given back, never a piece cut by a take', () => {
    const coalescer = new CopyCoalescer(8);
    const [first] = coalescer.append(Buffer.from('01234567'));
    coalescer.recycle(first!);
    const [second] = coalescer.append(Buffer.from('abcdefgh'));
    expect(second!.buffer).toBe(first!.buffer);
    expect(second!.toString()).toBe('abcdefgh');

    coalescer.append(Buffer.from('xy'));
    const cut = coalescer.take()!;
    coalescer.recycle(cut);
    const [rest] = coalescer.append(Buffer.from('zzzzzz'));
    coalescer.recycle(rest!);
    const [next] = coalescer.append(Buffer.from('12345678'));
    expect(next!.buffer).not.toBe(cut.buffer);
    expect(cut.toString()).toBe('xy');
    expect(rest!.toString()).toBe('zzzzzz');
  });

  it('handles empty input', () => {
    const coalescer = new CopyCoalescer(8);
    expect(coalescer.append(Buffer.alloc(0))).toEqual([]);
    expect(coalescer.take()).toBeNull();
  });
});
