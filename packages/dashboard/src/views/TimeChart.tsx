/** One uPlot time-series chart that follows its container's width. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Line {
  label: string;
  color: string;
  values: Array<number | null>;
}

export function TimeChart({ title, times, lines, unit }: { title: string; times: number[]; lines: Line[]; unit?: (v: number) => string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const fmt = unit ?? ((v: number) => String(v));
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 240),
      height: 200,
      series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.color, width: 2, spanGaps: false, value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmt(v)) }))],
      axes: [{}, { values: (_u: uPlot, splits: number[]) => splits.map(fmt), size: 60 }],
      scales: { x: { time: true } },
    };
    const data: uPlot.AlignedData = [times, ...lines.map((l) => l.values)];
    const plot = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 240), height: 200 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times, lines, unit]);
  return (
    <figure class="chart" data-testid={`chart-${title.toLowerCase().replace(/\W+/g, '-')}`}>
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
}
