/**
 * Counters whose hot path is a lookup in nested maps and `n += by`: no label object, no hash, no
 * allocation once a label combination has been seen. prom-client reads the cells at scrape time
 * (the counter's `collect`), so what it exposes is exactly what was counted. Label values come
 * from configuration (services, dialects, channels) or small fixed sets (outcomes), so the number
 * of cells stays small.
 */
import { Counter, type Registry } from 'prom-client';

interface Cell {
  labels: Record<string, string>;
  n: number;
}

type Level<T> = Map<string, T>;

export class CounterCells {
  private readonly root: Level<Level<Level<Level<Cell>>>> = new Map();
  private readonly all: Cell[] = [];

  constructor(registry: Registry, name: string, help: string, private readonly labelNames: readonly string[]) {
    const cells = this.all;
    new Counter({
      name, help, labelNames: [...labelNames], registers: [registry],
      collect() {
        this.reset();
        for (const cell of cells) this.inc(cell.labels, cell.n);
      },
    });
  }

  /** Adds `by` (default 1) under these label values, in the order of the label names. */
  inc(a = '', b = '', c = '', d = '', by = 1): void {
    this.cell(a, b, c, d).n += by;
  }

  private cell(a: string, b: string, c: string, d: string): Cell {
    let l1 = this.root.get(a);
    if (!l1) this.root.set(a, (l1 = new Map()));
    let l2 = l1.get(b);
    if (!l2) l1.set(b, (l2 = new Map()));
    let l3 = l2.get(c);
    if (!l3) l2.set(c, (l3 = new Map()));
    let cell = l3.get(d);
    if (!cell) {
      const values = [a, b, c, d];
      cell = { labels: Object.fromEntries(this.labelNames.map((name, i) => [name, values[i] ?? ''])), n: 0 };
      l3.set(d, cell);
      this.all.push(cell);
    }
    return cell;
  }
}

/** A cache of one child per label combination (up to three values), made once by `make`. */
export class Children<T> {
  private readonly root: Level<Level<Level<T>>> = new Map();

  constructor(private readonly make: (a: string, b: string, c: string) => T) {}

  get(a: string, b = '', c = ''): T {
    let l1 = this.root.get(a);
    if (!l1) this.root.set(a, (l1 = new Map()));
    let l2 = l1.get(b);
    if (!l2) l1.set(b, (l2 = new Map()));
    let child = l2.get(c);
    if (child === undefined) l2.set(c, (child = this.make(a, b, c)));
    return child;
  }
}
