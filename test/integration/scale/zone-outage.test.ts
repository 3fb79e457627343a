/**
 * Issue #18 on the real control plane: 1,000 kwok Nodes in three zones, alertfence armed (its Node server
 * in its own process, the simulated cloud), every call it makes recorded by a proxy in front of the API server.
 * One zone goes dark together: every fence there is refused with the failure-domain reason, by a grouped
 * alert of the whole zone and by single-node alerts at once, fast and with bounded API work. The zone comes
 * back and nothing was fenced. Then five Nodes of that zone die alone: they are fenced.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REASONS } from '../../../functions/fence/vocabulary.js';
import { type RecordingProxy, startRecordingProxy } from '../../peers/recording-proxy.js';
import { postAlert } from './alerts.js';
import { type FunctionProcess, startFunctionProcess } from './function-process.js';
import { idleCpuRate, measured } from './measure.js';
import { accessOf, type ScaleCluster, startScaleCluster } from './scale-cluster.js';
import {
  ARMED_ENV,
  FEW_C,
  fencingTaints,
  journals,
  killGroups,
  namesOf,
  OUTAGE_GROUPS,
  outageBurst,
  reviveGroups,
  tally,
  waitFenced,
  ZONE_C,
} from './zone-outage.js';

/**
 * What the burst may cost at most: answers well under Alertmanager's patience, and reads that do not grow with
 * the cluster: at most one read per node named, and a few lists per request (the version before one snapshot
 * per request read five times per named node, a list of every Node among them).
 */
const BURST_BUDGET = { answerMs: 10_000, callsPerNamedNode: 1, callsPerRequest: 8 };

describe('a zone outage on 1,000 nodes', () => {
  let cluster: ScaleCluster;
  let proxy: RecordingProxy;
  let fn: FunctionProcess;

  beforeAll(async () => {
    cluster = await startScaleCluster({ groups: OUTAGE_GROUPS });
    proxy = await startRecordingProxy({
      upstream: cluster.plane.server,
      upstreamCa: accessOf(cluster.plane.alertfence).ca,
      dir: cluster.plane.dir,
    });
    fn = await startFunctionProcess({
      kubeconfig: await cluster.kubeconfigVia(proxy),
      logFile: join(cluster.plane.dir, 'alertfence.log'),
      env: ARMED_ENV,
    });
  }, 240_000);

  afterAll(async () => {
    await fn?.stop();
    await proxy?.stop();
    await cluster?.stop();
  });

  it('should refuse every fence of a zone gone dark, bring nothing down when it returns, and fence five that die alone', async () => {
    // Prepare: zone-c (333 Nodes) stops heartbeating together.
    const zone = namesOf(cluster, ZONE_C);
    expect(zone).toHaveLength(333);
    await killGroups(cluster, ZONE_C);
    const idle = await idleCpuRate(cluster, 3_000);

    // Act: a grouped alert naming the whole zone and 20 single-node alerts, at once.
    const burst = await measured(cluster, proxy, idle, () => outageBurst(fn, zone, zone.slice(0, 20)));

    // Assess: every node refused by the failure-domain guard, fast, with API reads that do not grow per node.
    const { grouped, singles } = burst.value;
    expect(grouped.status).toBe(202);
    expect(tally(grouped.results)).toEqual({ [`refused ${REASONS.domainStormGuard}`]: 333 });
    expect(grouped.results[0]?.message).toMatch(/zone zone-c: 333 of 333 nodes/);
    for (const single of singles) {
      expect(single.status).toBe(202);
      expect(tally(single.results)).toEqual({ [`refused ${REASONS.domainStormGuard}`]: 1 });
    }
    expect(Math.max(grouped.ms, ...singles.map((single) => single.ms))).toBeLessThan(BURST_BUDGET.answerMs);
    const named = zone.length + singles.length;
    expect(burst.totals.calls).toBeLessThanOrEqual(
      named * BURST_BUDGET.callsPerNamedNode + (1 + singles.length) * BURST_BUDGET.callsPerRequest,
    );
    // One list of every Node per request, or the counts of the cluster, a zone and a region; never one per node.
    expect(burst.totals.byKind['LIST nodes'] ?? 0).toBeLessThanOrEqual(3 * (1 + singles.length));

    // Act: the zone returns.
    await reviveGroups(cluster, ZONE_C);

    // Assess: nothing was fenced — no journal, no taint, no power action at the cloud.
    expect(await journals(cluster)).toEqual([]);
    expect(await fencingTaints(cluster)).toEqual([]);
    expect((await fn.driverCalls()).powerOff ?? 0).toBe(0);

    // Act: five Nodes of zone-c die alone, and Alertmanager sends their alerts.
    const few = namesOf(cluster, [FEW_C]);
    await killGroups(cluster, [FEW_C]);
    const answers = await Promise.all(few.map((node) => postAlert(fn, [node])));

    // Assess: all five accepted (the limit is five at once) and fenced to the end; nothing else was touched.
    expect(tally(answers.flatMap((answer) => answer.results))).toEqual({
      [`accepted ${REASONS.accepted}`]: 5,
    });
    const fenced = await waitFenced(cluster, few, 90_000);
    expect(fenced.map((journal) => journal.phase)).toEqual(few.map(() => 'Done'));
    expect((await fn.driverCalls()).powerOff).toBe(5);
    expect((await journals(cluster)).map((journal) => journal.node).sort()).toEqual([...few].sort());
  }, 300_000);
});
