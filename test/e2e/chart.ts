/**
 * A small hand-written SVG renderer for the e2e timeline: one headline comparison, then one panel per run
 * with a lane per actor (node, instance, alert, alertfence, workloads, volume), coloured segments, and
 * numbered milestones explained in a key under the panel.
 */

/** What a segment means; one colour each, explained in the legend. */
export type Tone = 'up' | 'down' | 'wait' | 'off' | 'act';

export const TONES: Record<Tone, { fill: string; text: string; legend: string }> = {
  up: { fill: '#2e7d32', text: '#ffffff', legend: 'serving / healthy' },
  down: { fill: '#c62828', text: '#ffffff', legend: 'dead or unavailable' },
  wait: { fill: '#f2a900', text: '#1a1a1a', legend: 'waiting (timers, controllers, Multi-Attach)' },
  off: { fill: '#9e9e9e', text: '#1a1a1a', legend: 'off / gone' },
  act: { fill: '#1565c0', text: '#ffffff', legend: 'alertfence acting' },
};

export interface Segment {
  /** Seconds from the panel's zero. */
  from: number;
  to: number;
  tone: Tone;
  label?: string;
  /** Still going when the run ended: drawn with an arrow at its end. */
  open?: boolean;
}

export interface Lane {
  label: string;
  sublabel?: string;
  segments: Segment[];
}

export interface Marker {
  at: number;
  label: string;
}

export interface Panel {
  title: string;
  /** Right end of the time axis, seconds. */
  maxS: number;
  lanes: Lane[];
  markers: Marker[];
}

/** A comparison bar on one shared axis, for the headline. */
export interface HeadlineBar {
  label: string;
  segments: Segment[];
  /** Text after the bar, e.g. `27.5 s` or `still down at 180 s`. */
  value: string;
}

export interface Chart {
  title: string;
  /** Lines under the title. */
  subtitle: string[];
  headline: { title: string; maxS: number; bars: HeadlineBar[] };
  panels: Panel[];
}

const WIDTH = 1280;
const LEFT = 230;
const RIGHT = 40;
const PLOT = WIDTH - LEFT - RIGHT;
const LANE_HEIGHT = 30;
const BAR_HEIGHT = 20;
const FONT = "font-family='DejaVu Sans, Verdana, Arial, sans-serif'";
/** Average advance of a 12 px DejaVu Sans character, for deciding whether a label fits. */
const CHAR_PX = 7;

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

/** A "nice" tick step for an axis of `maxS` seconds with about 8-12 ticks. */
export function tickStep(maxS: number): number {
  for (const step of [1, 2, 5, 10, 15, 20, 30, 60, 120, 300]) {
    if (maxS / step <= 12) return step;
  }
  return 600;
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x='${fmt(x)}' y='${fmt(y)}' ${FONT} ${attributes}>${escapeXml(content)}</text>`;
}

function segmentSvg(segment: Segment, x0: number, scale: number, y: number, height: number): string {
  const from = Math.max(0, segment.from);
  const x = x0 + from * scale;
  const w = Math.max(4, (segment.to - from) * scale);
  const tone = TONES[segment.tone];
  const parts = [
    `<rect x='${fmt(x)}' y='${fmt(y)}' width='${fmt(w)}' height='${height}' rx='3' fill='${tone.fill}'>` +
      `<title>${escapeXml(`${segment.label ?? ''} ${fmt(segment.from)}–${fmt(segment.to)} s`.trim())}</title></rect>`,
  ];
  if (segment.open) {
    const tip = x + w;
    const mid = y + height / 2;
    parts.push(
      `<path d='M${fmt(tip)},${fmt(y - 3)} L${fmt(tip + 12)},${fmt(mid)} L${fmt(tip)},${fmt(y + height + 3)} Z' fill='${tone.fill}'/>`,
    );
  }
  if (segment.label && segment.label.length * CHAR_PX + 8 <= w) {
    parts.push(text(x + 5, y + height / 2 + 4, segment.label, `font-size='12' fill='${tone.text}'`));
  }
  return parts.join('');
}

function axisSvg(x0: number, y: number, height: number, maxS: number, scale: number): string {
  const step = tickStep(maxS);
  const parts: string[] = [];
  for (let t = 0; t <= maxS + 1e-9; t += step) {
    const x = x0 + t * scale;
    parts.push(
      `<line x1='${fmt(x)}' y1='${fmt(y)}' x2='${fmt(x)}' y2='${fmt(y + height)}' stroke='#e3e3e3'/>`,
    );
    parts.push(text(x, y + height + 14, `${t} s`, "font-size='11' fill='#555' text-anchor='middle'"));
  }
  return parts.join('');
}

/** Numbered circles above the lanes; labels that would collide move to the next row. */
function markersSvg(markers: Marker[], x0: number, y: number, scale: number, height: number) {
  const parts: string[] = [];
  const rowEnds: number[] = [];
  const sorted = [...markers].sort((a, b) => a.at - b.at);
  const placed: Array<{ n: number; marker: Marker; row: number }> = [];
  sorted.forEach((marker, index) => {
    const x = x0 + marker.at * scale;
    let row = rowEnds.findIndex((end) => end < x - 11);
    if (row < 0) {
      row = rowEnds.length;
      rowEnds.push(0);
    }
    rowEnds[row] = x + 11;
    placed.push({ n: index + 1, marker, row });
  });
  const rows = Math.max(1, rowEnds.length);
  for (const { n, marker, row } of placed) {
    const x = x0 + marker.at * scale;
    const cy = y + 10 + row * 22;
    parts.push(
      `<line x1='${fmt(x)}' y1='${fmt(cy + 9)}' x2='${fmt(x)}' y2='${fmt(y + rows * 22 + height)}' stroke='#333' stroke-dasharray='3,3' stroke-width='1'/>`,
      `<circle cx='${fmt(x)}' cy='${fmt(cy)}' r='9' fill='#ffffff' stroke='#333' stroke-width='1.5'/>`,
      text(x, cy + 4, String(n), "font-size='11' font-weight='bold' fill='#111' text-anchor='middle'"),
    );
  }
  return { svg: parts.join(''), height: rows * 22, order: placed };
}

/** Renders the chart as a standalone SVG document. */
export function renderChart(chart: Chart): string {
  const parts: string[] = [];
  let y = 36;
  parts.push(text(20, y, chart.title, "font-size='20' font-weight='bold' fill='#111'"));
  for (const line of chart.subtitle) {
    y += 20;
    parts.push(text(20, y, line, "font-size='13' fill='#444'"));
  }
  y += 30;

  // Headline: the unavailability of each run on one axis.
  const head = chart.headline;
  parts.push(text(20, y, head.title, "font-size='15' font-weight='bold' fill='#111'"));
  y += 12;
  const headScale = (PLOT - 150) / head.maxS;
  const headTop = y;
  const headHeight = head.bars.length * 34;
  parts.push(axisSvg(LEFT, headTop, headHeight, head.maxS, headScale));
  for (const bar of head.bars) {
    parts.push(text(20, y + 22, bar.label, "font-size='13' fill='#111'"));
    for (const segment of bar.segments) parts.push(segmentSvg(segment, LEFT, headScale, y + 6, 24));
    const end = Math.max(...bar.segments.map((segment) => segment.to));
    parts.push(
      text(LEFT + end * headScale + 18, y + 23, bar.value, "font-size='14' font-weight='bold' fill='#111'"),
    );
    y += 34;
  }
  y += 30;

  // Legend.
  let lx = 20;
  for (const tone of Object.values(TONES)) {
    parts.push(`<rect x='${lx}' y='${y - 11}' width='14' height='14' rx='2' fill='${tone.fill}'/>`);
    parts.push(text(lx + 20, y, tone.legend, "font-size='12' fill='#333'"));
    lx += 40 + tone.legend.length * 6.6;
  }
  y += 24;

  for (const panel of chart.panels) {
    y += 14;
    parts.push(`<line x1='20' y1='${y - 18}' x2='${WIDTH - 20}' y2='${y - 18}' stroke='#bbb'/>`);
    parts.push(text(20, y, panel.title, "font-size='16' font-weight='bold' fill='#111'"));
    y += 8;
    const scale = PLOT / panel.maxS;
    const lanesHeight = panel.lanes.length * LANE_HEIGHT;
    const markers = markersSvg(panel.markers, LEFT, y, scale, lanesHeight);
    const lanesTop = y + markers.height + 6;
    parts.push(axisSvg(LEFT, lanesTop, lanesHeight, panel.maxS, scale));
    parts.push(markers.svg);
    panel.lanes.forEach((lane, index) => {
      const top = lanesTop + index * LANE_HEIGHT;
      if (index % 2 === 0) {
        parts.push(
          `<rect x='20' y='${top}' width='${WIDTH - 40}' height='${LANE_HEIGHT}' fill='#f6f6f6' opacity='0.6'/>`,
        );
      }
      parts.push(
        text(
          26,
          top + (lane.sublabel ? 13 : 19),
          lane.label,
          "font-size='12' font-weight='bold' fill='#111'",
        ),
      );
      if (lane.sublabel) parts.push(text(26, top + 26, lane.sublabel, "font-size='10.5' fill='#555'"));
      for (const segment of lane.segments) {
        parts.push(segmentSvg(segment, LEFT, scale, top + (LANE_HEIGHT - BAR_HEIGHT) / 2, BAR_HEIGHT));
      }
    });
    y = lanesTop + lanesHeight + 34;

    // Key of the numbered milestones, two columns.
    const half = Math.ceil(markers.order.length / 2);
    markers.order.forEach(({ n, marker }, index) => {
      const column = index < half ? 0 : 1;
      const row = column === 0 ? index : index - half;
      const x = 26 + column * ((WIDTH - 40) / 2);
      const ky = y + row * 18;
      parts.push(`<circle cx='${x + 8}' cy='${ky - 4}' r='8' fill='#fff' stroke='#333'/>`);
      parts.push(
        text(x + 8, ky, String(n), "font-size='10' font-weight='bold' fill='#111' text-anchor='middle'"),
      );
      parts.push(text(x + 22, ky, `${fmt(marker.at)} s  ${marker.label}`, "font-size='12' fill='#222'"));
    });
    y += half * 18 + 16;
  }

  const height = Math.ceil(y + 10);
  return [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${WIDTH}' height='${height}' viewBox='0 0 ${WIDTH} ${height}' role='img' aria-labelledby='chart-title'>`,
    `<title id='chart-title'>${escapeXml(chart.title)}</title>`,
    `<rect width='${WIDTH}' height='${height}' fill='#ffffff'/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
