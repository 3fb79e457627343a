/**
 * `npm run bench:scale`: alertfence against clusters of 100, 1,000 and 5,000 kwok Nodes on the real control
 * plane (not part of `npm test`: the largest size takes long and a machine of its own), and the zone-outage
 * and many-dead-nodes scenarios on 1,000. Compares versions of alertfence on the same clusters.
 *
 * Options (all optional):
 *   --sizes=100,1000,5000        cluster sizes
 *   --variants=table,after          versions (bench/scale-variants.ts: before, snapshot, main, table, after, unfollowed)
 *   --requests=100               single-node alerts per kind and size
 *   --skip-sizes / --skip-outage run only one part
 *   --root=after=<dir>           run a version from another source tree (a working copy)
 *   --render-only                only write the tables and the chart again from the last results
 * Results merge into `bench/results/scale.json` (a part run alone keeps the other parts of the last run);
 * the chart is written to `docs/scale.svg`, the tables to `bench/results/scale.md` and into `docs/scale.md`.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { scaleChart } from './scale-chart.js';
import { benchOutage, type OutageResult } from './scale-outage.js';
import { outageTable, scenarioLines, sizeTable, tickTable } from './scale-report.js';
import { benchSize, type SizeResult } from './scale-sizes.js';
import { prepareVariants, REPO, VARIANTS } from './scale-variants.js';

interface Results {
  machine: Record<string, unknown>;
  variants: Record<string, { label: string; commit: string }>;
  sizes: SizeResult[];
  outage?: OutageResult;
  at: string;
}

function option(name: string, fallback: string): string {
  const found = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  return found ? found.slice(name.length + 3) : fallback;
}

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

/**
 * Puts the tables into `docs/scale.md` between its markers (`<!-- bench:sizes -->` … `<!-- /bench:sizes -->`),
 * so that the document's numbers are always the last run's.
 */
function fillDoc(parts: Partial<Record<'sizes' | 'ticks' | 'outage' | 'scenarios', string>>) {
  const doc = join(REPO, 'docs/scale.md');
  if (!existsSync(doc)) return;
  let text = readFileSync(doc, 'utf8');
  for (const [name, table] of Object.entries(parts)) {
    const open = `<!-- bench:${name} -->`;
    const close = `<!-- /bench:${name} -->`;
    const start = text.indexOf(open);
    const end = text.indexOf(close);
    if (start < 0 || end < start) continue;
    text = `${text.slice(0, start + open.length)}\n${table}\n${text.slice(end)}`;
  }
  writeFileSync(doc, text);
}

async function main() {
  const sizes = option('sizes', '100,1000,5000').split(',').map(Number);
  const names = option('variants', 'table,after').split(',');
  const requests = Number(option('requests', '100'));
  const file = join(REPO, 'bench/results/scale.json');
  const previous: Partial<Results> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const scratch = mkdtempSync(join(tmpdir(), 'alertfence-scale-'));
  try {
    const roots = Object.fromEntries(
      process.argv
        .filter((arg) => arg.startsWith('--root='))
        .map((arg) => arg.slice('--root='.length).split('=') as [string, string]),
    );
    const renderOnly = process.argv.includes('--render-only');
    const variants = renderOnly ? [] : prepareVariants(names, scratch, roots);
    const results: Results = {
      machine: {
        node: process.version,
        platform: platform(),
        arch: arch(),
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
      },
      variants: {
        ...previous.variants,
        ...Object.fromEntries(
          variants.map((variant) => [variant.name, { label: variant.label, commit: variant.commit }]),
        ),
      },
      sizes: previous.sizes ?? [],
      ...(previous.outage ? { outage: previous.outage } : {}),
      at: new Date().toISOString(),
    };
    const save = () => {
      mkdirSync(join(REPO, 'bench/results'), { recursive: true });
      writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
      const labels = Object.fromEntries(
        Object.entries(results.variants).map(([name, variant]) => [
          name,
          `${name}: ${variant.label.replace(/^\w+ /, '')}`,
        ]),
      );
      if (results.sizes.length > 0)
        writeFileSync(join(REPO, 'docs/scale.svg'), scaleChart(results.sizes, labels));
      const tables = [
        '## By cluster size',
        '',
        sizeTable(results.sizes),
        '',
        '## The scheduled tick',
        '',
        tickTable(results.sizes),
        ...(results.outage
          ? ['', '## Zone outage', '', outageTable(results.outage), '', scenarioLines(results.outage)]
          : []),
        '',
      ];
      writeFileSync(join(REPO, 'bench/results/scale.md'), tables.join('\n'));
      // Only the parts this machine has results for: a part never run here leaves the document's as it is.
      fillDoc({
        ...(results.sizes.length > 0 ? { sizes: sizeTable(results.sizes) } : {}),
        ...(results.sizes.some((size) => size.variants.some((variant) => variant.tick))
          ? { ticks: tickTable(results.sizes) }
          : {}),
        ...(results.outage
          ? { outage: outageTable(results.outage), scenarios: scenarioLines(results.outage) }
          : {}),
      });
    };

    if (renderOnly) {
      results.machine = previous.machine ?? results.machine;
      results.at = previous.at ?? results.at;
      for (const [name, variant] of Object.entries(results.variants)) {
        variant.label = VARIANTS[name]?.label ?? variant.label;
      }
    }
    if (!renderOnly && !process.argv.includes('--skip-sizes')) {
      for (const size of sizes) {
        log(`cluster of ${size} nodes`);
        const result = await benchSize(size, variants, {
          requests,
          groupedRuns: 10,
          groupedBudgetMs: 90_000,
          onProgress: log,
        });
        // A size run again replaces its variants, and keeps those not run this time.
        const old = results.sizes.find((entry) => entry.size === size);
        const kept = old?.variants.filter((entry) => !names.includes(entry.variant)) ?? [];
        result.variants = [...kept, ...result.variants].sort(
          (a, b) => Object.keys(VARIANTS).indexOf(a.variant) - Object.keys(VARIANTS).indexOf(b.variant),
        );
        results.sizes = [...results.sizes.filter((entry) => entry.size !== size), result];
        save();
      }
    }
    if (!renderOnly && !process.argv.includes('--skip-outage')) {
      log('zone outage and many dead nodes on 1,000 nodes');
      const outage = await benchOutage(variants, { onProgress: log, repeatMs: 5_000 });
      // Versions not run this time keep their last disarmed results; the armed scenarios are always this run's.
      const kept =
        results.outage?.variants.filter((entry) => !entry.armed && !names.includes(entry.variant)) ?? [];
      outage.variants = [...kept, ...outage.variants];
      results.outage = outage;
      save();
    }
    save();
    process.stdout.write(readFileSync(join(REPO, 'bench/results/scale.md'), 'utf8'));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
