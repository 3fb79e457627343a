/** The results of `npm run bench:scale` as Markdown tables, for `docs/scale.md`. */
import { compact } from './scale-chart.js';
import type { OutageResult } from './scale-outage.js';
import type { SizeResult } from './scale-sizes.js';

const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
const bytes = (value: number) => `${compact(value)}B`;
const pair = (a: number, b: number) => `${compact(a)} / ${compact(b)}`;

/** Three values of a path (a Ready node, a dead node alone, a dead node among five), `–` where not measured. */
const three = (values: Array<number | undefined>, format: (value: number) => string = compact) =>
  values.map((value) => (value === undefined ? '–' : format(value))).join(' / ');

export function sizeTable(sizes: SizeResult[]): string {
  const lines = [
    '| nodes | version | Ready node p50 / p99 ms | dead node alone p50 / p99 ms | dead among five p50 / p99 ms | 50-node group p50 ms | calls per alert (Ready / alone / of five) | bytes parsed per alert (Ready / alone / of five) | bytes on the wire (Ready / alone / of five) | API server CPU ms per alert (Ready / alone / of five) | function RSS (peak) | load |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const size of [...sizes].sort((a, b) => a.size - b.size)) {
    for (const v of size.variants) {
      const alone = v.deadAlone;
      lines.push(
        `| ${size.size.toLocaleString('en-US')} | ${v.variant} | ${pair(v.ready.p50Ms, v.ready.p99Ms)} | ${alone ? pair(alone.p50Ms, alone.p99Ms) : '–'} | ${pair(v.dead.p50Ms, v.dead.p99Ms)} | ${compact(v.grouped50.p50Ms)} (${v.grouped50.alerts} runs) | ${three([v.ready.callsPerAlert, alone?.callsPerAlert, v.dead.callsPerAlert], String)} | ${three([v.ready.bodyBytesPerAlert, alone?.bodyBytesPerAlert, v.dead.bodyBytesPerAlert], bytes)} | ${three([v.ready.wireBytesPerAlert, alone?.wireBytesPerAlert, v.dead.wireBytesPerAlert], bytes)} | ${three([v.ready.apiCpuMsPerAlert, alone?.apiCpuMsPerAlert, v.dead.apiCpuMsPerAlert], String)} | ${mib(v.rssKb)} (${mib(v.peakRssKb)}) | ${v.load?.join('–') ?? ''} |`,
      );
    }
  }
  return lines.join('\n');
}

/** The scheduled tick by size and version: what finding nothing to do costs (rows of older runs have none). */
export function tickTable(sizes: SizeResult[]): string {
  const lines = [
    '| nodes | version | tick p50 / max ms | calls per tick | bytes parsed (on the wire) per tick | API server CPU ms per tick | calls by kind |',
    '|---:|---|---:|---:|---:|---:|---|',
  ];
  for (const size of [...sizes].sort((a, b) => a.size - b.size)) {
    for (const v of size.variants) {
      const tick = v.tick;
      if (!tick) continue;
      const kinds = Object.entries(tick.callsByKind)
        .map(([kind, count]) => `${kind} ${count}`)
        .join(', ');
      lines.push(
        `| ${size.size.toLocaleString('en-US')} | ${v.variant} | ${pair(tick.p50Ms, tick.maxMs)} (${tick.alerts} ticks) | ${tick.callsPerAlert} | ${bytes(tick.bodyBytesPerAlert)} (${bytes(tick.wireBytesPerAlert)}) | ${compact(tick.apiCpuMsPerAlert)} | ${kinds} |`,
      );
    }
  }
  return lines.join('\n');
}

export function outageTable(outage: OutageResult): string {
  const lines = [
    `| version | grouped alert (${outage.zoneNodes} nodes) alone: answer | calls | bytes parsed (wire) | API CPU ms | with 20 single alerts at once: grouped answer | singles p50 / max | calls | bytes parsed (wire) | API CPU ms | outcome | load |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|',
  ];
  for (const v of outage.variants) {
    const outcomes = Object.entries(v.burst.groupedOutcomes)
      .map(([key, count]) => `${count} ${key}`)
      .join(', ');
    lines.push(
      `| ${v.variant}${v.armed ? ' (armed)' : ''} | ${compact(v.grouped.ms)} ms | ${v.grouped.cost.calls} | ${bytes(v.grouped.cost.bodyBytes)} (${bytes(v.grouped.cost.wireBytes)}) | ${compact(v.grouped.cost.apiCpuMs)} | ${compact(v.burst.groupedMs)} ms | ${compact(v.burst.singles.p50Ms)} / ${compact(v.burst.singles.maxMs)} ms | ${v.burst.cost.calls} | ${bytes(v.burst.cost.bodyBytes)} (${bytes(v.burst.cost.wireBytes)}) | ${compact(v.burst.cost.apiCpuMs)} | ${outcomes} | ${v.load ?? ''} |`,
    );
  }
  return lines.join('\n');
}

export function scenarioLines(outage: OutageResult): string {
  const { recovery, fewDieAlone, manyDead } = outage;
  return [
    `- zone-c (${outage.zoneNodes} of ${outage.nodes} Nodes) not Ready ${outage.secondsUntilZoneNotReady} s after its kubelets stopped.`,
    `- The zone back: all Ready after ${recovery.secondsUntilReady} s; journals ${recovery.journals}, fencing taints ${recovery.fencingTaints}, power-offs ${recovery.powerOffs}.`,
    `- ${fewDieAlone.nodes} Nodes of zone-c die alone: ${JSON.stringify(fewDieAlone.answers)}; all fenced ${fewDieAlone.fencedS} s after the alerts; power-offs ${fewDieAlone.powerOffs}.`,
    `- ${manyDead.dead} dead Nodes over three zones, at most ${manyDead.maxConcurrentFences} fences at once: first answer ${JSON.stringify(manyDead.firstAnswer)}; at most ${manyDead.maxRunning} fences running (slots Lease: at most ${manyDead.maxSlots} entries); all fenced ${manyDead.totalS} s after the first alerts, with ${manyDead.alertsSent} alerts sent; one fence took ${manyDead.fenceS.p50} s (p50), ${manyDead.fenceS.max} s (max).`,
    `- Fences running over time (s → running): ${manyDead.timeline.map(([s, n]) => `${s}→${n}`).join(', ')}`,
  ].join('\n');
}
