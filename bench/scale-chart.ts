/**
 * The chart of `npm run bench:scale` (`docs/scale.svg`): one panel per measure against the cluster size, both
 * axes logarithmic, one colour per version of alertfence; solid for a dead node's alert, dashed for a Ready
 * node's, dotted for the bytes that crossed the wire compressed.
 */
import { escapeXml } from '../test/e2e/chart.js';
import type { SizeResult } from './scale-sizes.js';

export interface Series {
  label: string;
  color: string;
  /** `dashed`: the Ready node's series; `dotted`: bytes on the wire. */
  style?: 'dashed' | 'dotted';
  points: Array<[number, number]>;
}

const DASH = { dashed: '7,4', dotted: '2,3' } as const;
const dash = (series: Pick<Series, 'style'>) =>
  series.style ? ` stroke-dasharray='${DASH[series.style]}'` : '';

export interface ChartPanel {
  title: string;
  unit: string;
  series: Series[];
  /** A horizontal line, e.g. the latency target. */
  target?: { value: number; label: string };
}

const COLORS: Record<string, string> = {
  before: '#c62828',
  snapshot: '#e08a00',
  main: '#6a1b9a',
  after: '#1565c0',
};

const PANEL_W = 540;
const PANEL_H = 300;
const MARGIN = { left: 70, top: 40, right: 20, bottom: 50 };
const FONT = "font-family='DejaVu Sans, Verdana, Arial, sans-serif'";

const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

/** A compact number: 1.2k, 3.4M; ms below 10 with one decimal. */
export function compact(value: number): string {
  if (value >= 1e6) return `${fmt(value / 1e6)}M`;
  if (value >= 1e3) return `${fmt(value / 1e3)}k`;
  return value < 10 ? fmt(value) : String(Math.round(value));
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x='${fmt(x)}' y='${fmt(y)}' ${FONT} ${attributes}>${escapeXml(content)}</text>`;
}

/** Powers of ten (and 2 and 5 times them when the range is short) between `min` and `max`. */
function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  const decades = Math.log10(max / min);
  const steps = decades < 2.5 ? [1, 2, 5] : [1];
  for (let power = Math.floor(Math.log10(min)); power <= Math.ceil(Math.log10(max)); power++) {
    for (const step of steps) {
      const value = step * 10 ** power;
      if (value >= min * 0.999 && value <= max * 1.001) ticks.push(value);
    }
  }
  return ticks;
}

function panelSvg(panel: ChartPanel, x0: number, y0: number, sizes: number[]): string {
  const parts: string[] = [];
  const values = panel.series.flatMap((series) => series.points.map(([, y]) => y)).filter((y) => y > 0);
  if (panel.target) values.push(panel.target.value);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const xMin = Math.min(...sizes) / 1.3;
  const xMax = Math.max(...sizes) * 1.3;
  const plotW = PANEL_W - MARGIN.left - MARGIN.right;
  const plotH = PANEL_H - MARGIN.top - MARGIN.bottom;
  const left = x0 + MARGIN.left;
  const top = y0 + MARGIN.top;
  const x = (size: number) => left + (Math.log(size / xMin) / Math.log(xMax / xMin)) * plotW;
  const y = (value: number) =>
    top + plotH - (Math.log(Math.max(value, yMin) / yMin) / Math.log(yMax / yMin)) * plotH;

  parts.push(text(x0 + MARGIN.left, y0 + 22, panel.title, "font-size='14' font-weight='bold' fill='#111'"));
  parts.push(
    `<rect x='${fmt(left)}' y='${fmt(top)}' width='${fmt(plotW)}' height='${fmt(plotH)}' fill='#fafafa' stroke='#ccc'/>`,
  );
  for (const tick of logTicks(yMin, yMax)) {
    parts.push(
      `<line x1='${fmt(left)}' y1='${fmt(y(tick))}' x2='${fmt(left + plotW)}' y2='${fmt(y(tick))}' stroke='#e3e3e3'/>`,
    );
    parts.push(
      text(left - 6, y(tick) + 4, `${compact(tick)}`, "font-size='11' fill='#555' text-anchor='end'"),
    );
  }
  for (const size of sizes) {
    parts.push(
      `<line x1='${fmt(x(size))}' y1='${fmt(top)}' x2='${fmt(x(size))}' y2='${fmt(top + plotH)}' stroke='#e3e3e3'/>`,
    );
    parts.push(
      text(
        x(size),
        top + plotH + 16,
        size.toLocaleString('en-US'),
        "font-size='11' fill='#555' text-anchor='middle'",
      ),
    );
  }
  parts.push(
    text(
      left + plotW / 2,
      top + plotH + 36,
      'Nodes in the cluster',
      "font-size='12' fill='#333' text-anchor='middle'",
    ),
  );
  parts.push(
    text(
      x0 + 16,
      top + plotH / 2,
      panel.unit,
      `font-size='12' fill='#333' text-anchor='middle' transform='rotate(-90 ${fmt(x0 + 16)} ${fmt(top + plotH / 2)})'`,
    ),
  );
  if (panel.target) {
    const ty = y(panel.target.value);
    parts.push(
      `<line x1='${fmt(left)}' y1='${fmt(ty)}' x2='${fmt(left + plotW)}' y2='${fmt(ty)}' stroke='#2e7d32' stroke-dasharray='2,4' stroke-width='1.5'/>`,
    );
    parts.push(text(left + 6, ty - 5, panel.target.label, "font-size='11' fill='#2e7d32'"));
  }
  for (const series of panel.series) {
    const points = series.points.filter(([, value]) => value > 0).sort((a, b) => a[0] - b[0]);
    if (points.length === 0) continue;
    const path = points
      .map(([size, value], i) => `${i === 0 ? 'M' : 'L'}${fmt(x(size))},${fmt(y(value))}`)
      .join(' ');
    parts.push(
      `<path d='${path}' fill='none' stroke='${series.color}' stroke-width='2.2'${dash(series)}><title>${escapeXml(series.label)}</title></path>`,
    );
    for (const [size, value] of points) {
      parts.push(
        `<circle cx='${fmt(x(size))}' cy='${fmt(y(value))}' r='3.5' fill='${series.style ? '#fff' : series.color}' stroke='${series.color}' stroke-width='1.5'><title>${escapeXml(`${series.label}: ${compact(value)} at ${size} nodes`)}</title></circle>`,
      );
    }
  }
  return parts.join('\n');
}

/** Renders panels side by side, two per row, with a legend under them, one line a series. */
export function renderScaleChart(chart: {
  title: string;
  subtitle: string[];
  panels: ChartPanel[];
  sizes: number[];
  legend: Series[];
}): string {
  const columns = 2;
  const rows = Math.ceil(chart.panels.length / columns);
  const headerH = 40 + chart.subtitle.length * 18;
  const legendH = 20 + chart.legend.length * 20;
  const width = columns * PANEL_W + 40;
  const height = headerH + rows * PANEL_H + legendH + 20;
  const parts: string[] = [text(20, 30, chart.title, "font-size='18' font-weight='bold' fill='#111'")];
  chart.subtitle.forEach((line, i) => {
    parts.push(text(20, 52 + i * 18, line, "font-size='12' fill='#444'"));
  });
  chart.panels.forEach((panel, i) => {
    parts.push(
      panelSvg(panel, 20 + (i % columns) * PANEL_W, headerH + Math.floor(i / columns) * PANEL_H, chart.sizes),
    );
  });
  const legendTop = headerH + rows * PANEL_H + 10;
  chart.legend.forEach((series, i) => {
    const lx = 40;
    const ly = legendTop + i * 20;
    parts.push(
      `<line x1='${lx}' y1='${ly}' x2='${lx + 30}' y2='${ly}' stroke='${series.color}' stroke-width='2.2'${dash(series)}/>`,
    );
    parts.push(text(lx + 38, ly + 4, series.label, "font-size='12' fill='#222'"));
  });
  return [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${width}' height='${height}' viewBox='0 0 ${width} ${height}' role='img' aria-labelledby='scale-title'>`,
    `<title id='scale-title'>${escapeXml(chart.title)}</title>`,
    `<rect width='${width}' height='${height}' fill='#ffffff'/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** The chart of the size results: latency, bytes and API server CPU per alert against the cluster size. */
export function scaleChart(sizes: SizeResult[], labels: Record<string, string>): string {
  const ordered = [...sizes].sort((a, b) => a.size - b.size);
  const all = [...new Set(ordered.flatMap((size) => size.variants.map((variant) => variant.variant)))];
  // The versions of the last run (they measured a lone dead node too); older runs' stay in the tables.
  const current = all.filter((name) =>
    ordered.some((size) => size.variants.some((result) => result.variant === name && result.deadAlone)),
  );
  const variants = current.length > 0 ? current : all;
  const points = (variant: string, pick: (result: SizeResult['variants'][number]) => number) =>
    ordered.flatMap((size) => {
      const result = size.variants.find((candidate) => candidate.variant === variant);
      return result ? [[size.size, pick(result)] as [number, number]] : [];
    });
  const color = (variant: string) => COLORS[variant] ?? '#555';
  /**
   * Per version: a lone dead node's series (solid; older runs measured only five dead, which every version
   * before this branch reads alike), a Ready node's (dashed), a dead node's among five (dotted).
   */
  const both = (pick: (path: SizeResult['variants'][number]['dead']) => number): Series[] =>
    variants.flatMap((variant) => [
      {
        label: `${variant}: dead node alone`,
        color: color(variant),
        points: points(variant, (r) => pick(r.deadAlone ?? r.dead)),
      },
      {
        label: `${variant}: Ready node`,
        color: color(variant),
        style: 'dashed',
        points: points(variant, (r) => pick(r.ready)),
      },
      ...(ordered.some((size) => size.variants.some((r) => r.variant === variant && r.deadAlone))
        ? [
            {
              label: `${variant}: dead node among five`,
              color: color(variant),
              style: 'dotted' as const,
              points: points(variant, (r) => pick(r.dead)),
            },
          ]
        : []),
    ]);
  const panels: ChartPanel[] = [
    {
      title: 'Single-node webhook, p99',
      unit: 'ms',
      target: { value: 100, label: 'target 100 ms' },
      series: both((path) => path.p99Ms),
    },
    {
      title: 'API bytes parsed per single-node alert',
      unit: 'bytes',
      series: both((path) => path.bodyBytesPerAlert),
    },
    {
      title: 'Grouped webhook naming 50 nodes, p50',
      unit: 'ms',
      series: variants.map((variant) => ({
        label: variant,
        color: color(variant),
        points: points(variant, (r) => r.grouped50.p50Ms),
      })),
    },
    {
      title: 'API server CPU per single-node alert',
      unit: 'ms of CPU',
      series: both((path) => path.apiCpuMsPerAlert),
    },
  ];
  const legend: Series[] = variants.map((variant) => ({
    label: `${labels[variant] ?? variant}`,
    color: color(variant),
    points: [],
  }));
  legend.push(
    { label: 'solid: a dead node’s alert, the only unhealthy node', color: '#555', points: [] },
    { label: 'dashed: a Ready node’s alert', color: '#555', style: 'dashed', points: [] },
    { label: 'dotted: a dead node’s alert among five dead', color: '#555', style: 'dotted', points: [] },
  );
  return renderScaleChart({
    title: 'alertfence against the cluster size (kwok Nodes on a real API server)',
    subtitle: [
      'Both axes logarithmic. One webhook at a time; the function in its own process, every API call through a recording proxy.',
      'Measured on a 2-core machine shared with other work: absolute times are pessimistic, the slopes are the point.',
    ],
    panels,
    sizes: ordered.map((size) => size.size),
    legend,
  });
}
