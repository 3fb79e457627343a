/**
 * docs/metrics.md says what the code exports: every metric of the catalog with its type and labels, and every
 * alert of the health rules.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { METRICS } from '../../../functions/observability/catalog.js';

const ROOT = join(import.meta.dirname, '../../..');
const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');

/** The rows of the markdown table under `heading`, as arrays of cells. */
function tableUnder(heading: string): string[][] {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no heading "${heading}" in docs/metrics.md`);
  const lines = doc.slice(start + heading.length + 2).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    // No cell holds a pipe of its own.
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

const unquote = (cell: string) => cell.replace(/`/g, '');

describe('docs/metrics.md', () => {
  it('should list every metric with its type and labels, and no other', () => {
    // Prepare
    const rows = tableUnder("## alertfence's metrics");

    // Act
    const documented = rows.map(([name = '', kind = '', labels = '']) => ({
      name: unquote(name),
      kind,
      labels: labels === '' ? [] : labels.split(', ').map(unquote),
    }));

    // Assess
    expect(documented).toEqual(
      Object.values(METRICS).map((spec) => ({ name: spec.name, kind: spec.kind, labels: [...spec.labels] })),
    );
  });

  it('should list every alert of the health rules', () => {
    // Prepare
    const rules = parse(readFileSync(join(ROOT, 'infra/prometheus/alertfence-health-rules.yml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; labels: { severity: string } }> }>;
    };

    // Act
    const documented = tableUnder('## Alerts').map(([alert = '', , severity = '']) => [
      unquote(alert),
      severity,
    ]);

    // Assess
    expect(documented).toEqual(
      rules.groups.flatMap((group) => group.rules.map((rule) => [rule.alert, rule.labels.severity])),
    );
  });
});
