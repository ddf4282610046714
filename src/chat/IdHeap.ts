/** A binary min-heap of ids (bigint). Lazy deletion is up to the caller: `peek` may return ids it has since dropped. */
export class IdHeap {
  private readonly a: bigint[] = [];

  get size(): number {
    return this.a.length;
  }

  peek(): bigint | undefined {
    return this.a[0];
  }

  push(id: bigint): void {
    const a = this.a;
    let i = a.push(id) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= id) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = id;
  }

  pop(): bigint | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const c = l + 1 < a.length && a[l + 1] < a[l] ? l + 1 : l;
      if (a[c] >= last) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = last;
    return top;
  }

  clear(): void {
    this.a.length = 0;
  }
}
