import { describe, expect, it } from 'vitest';
import {
  type AlertmanagerPayload,
  alertTargets,
  InvalidPayloadError,
  MAX_ALERTS,
  parsePayload,
} from '../../../functions/http/alertmanager.js';
import { alertPayload } from '../../support/world.js';

const DEFAULTS = {
  nodeLabels: ['node'],
  alertNames: ['KubeNodeNotReady', 'KubeNodeUnreachable', 'AlertfenceNodeDown'],
};

/** The payload Alertmanager 0.25 sent, byte for byte (reference.md). */
const OBSERVED = `{"receiver":"fn","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"KubeNodeNotReady",
"job":"kube-state-metrics","node":"worker-1","severity":"warning"},"annotations":{"summary":"Node is not ready."},
"startsAt":"2026-11-22T10:55:52.92Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"103052be3b48a36e"}],
"groupLabels":{"alertname":"KubeNodeNotReady","node":"worker-1"},"commonLabels":{},"commonAnnotations":{},
"externalURL":"http://am:9093","version":"4","groupKey":"{}:{alertname=\\"KubeNodeNotReady\\", node=\\"worker-1\\"}","truncatedAlerts":0}`;

type Alert = ReturnType<typeof alertPayload>['alerts'][number];

function payloadOf(alerts: unknown[]): AlertmanagerPayload {
  return parsePayload({ ...alertPayload([]), alerts });
}

function alert(overrides: Partial<Alert> & { labels?: Record<string, string> } = {}): Alert {
  const [base] = alertPayload([{ node: 'worker-1' }]).alerts;
  return { ...(base as Alert), ...overrides };
}

function invalidDetails(body: unknown): string[] {
  try {
    parsePayload(body);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidPayloadError);
    return (error as InvalidPayloadError).details;
  }
  throw new Error('expected parsePayload to throw');
}

describe('parsePayload', () => {
  it('should read the payload Alertmanager 0.25 sends', () => {
    // Prepare
    const body = JSON.parse(OBSERVED) as unknown;

    // Act
    const payload = parsePayload(body);

    // Assess
    expect(payload.version).toBe('4');
    expect(payload.status).toBe('firing');
    expect(payload.alerts).toHaveLength(1);
    expect(alertTargets(payload, DEFAULTS).targets.map((target) => target.node)).toEqual(['worker-1']);
  });

  it('should tolerate unknown fields at the top level and in alerts', () => {
    // Prepare
    const base = alertPayload([{ node: 'worker-1' }]);
    const body = {
      ...base,
      orgId: 1,
      future: { nested: [1, 2] },
      alerts: base.alerts.map((item) => ({ ...item, silencedBy: [], inhibitedBy: null, extra: 3 })),
    };

    // Act
    const payload = parsePayload(body);
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets.map((target) => target.node)).toEqual(['worker-1']);
    expect(verdicts).toEqual([]);
  });

  it.each([
    ['an empty generatorURL', { generatorURL: '' }],
    ['the zero endsAt of a firing alert', { endsAt: '0001-01-01T00:00:00Z' }],
    ['no endsAt at all', { endsAt: undefined }],
    [
      'no annotations, fingerprint nor generatorURL',
      { annotations: undefined, fingerprint: undefined, generatorURL: undefined },
    ],
    ['fractional seconds and an offset in startsAt', { startsAt: '2026-11-22T10:55:52.920123456+01:00' }],
  ])('should take a firing alert with %s as firing', (_name, overrides) => {
    // Prepare
    const payload = payloadOf([{ ...alert(), ...overrides }]);

    // Act
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets).toEqual([expect.objectContaining({ node: 'worker-1' })]);
    expect(verdicts).toEqual([]);
  });

  it('should report truncated alerts and still use the ones that came', () => {
    // Prepare
    const payload = parsePayload({ ...alertPayload([{ node: 'worker-1' }]), truncatedAlerts: 42 });

    // Act
    const result = alertTargets(payload, DEFAULTS);

    // Assess
    expect(result.truncatedAlerts).toBe(42);
    expect(result.targets).toHaveLength(1);
  });

  it('should count no truncated alerts when the field is missing (Alertmanager before 0.23)', () => {
    // Prepare
    const { truncatedAlerts: _dropped, ...older } = alertPayload([{ node: 'worker-1' }]);

    // Act
    const result = alertTargets(parsePayload(older), DEFAULTS);

    // Assess
    expect(result.truncatedAlerts).toBe(0);
  });

  it.each([
    ['null', null, '(root)'],
    ['an array', [], '(root)'],
    ['no version', { ...alertPayload([]), version: undefined }, 'version'],
    ['version "3"', { ...alertPayload([]), version: '3' }, 'version'],
    ['version 4 as a number', { ...alertPayload([]), version: 4 }, 'version'],
    ['alerts as an object', { ...alertPayload([]), alerts: {} }, 'alerts'],
    ['alerts missing', { ...alertPayload([]), alerts: undefined }, 'alerts'],
    ['a status that is not firing or resolved', { ...alertPayload([]), status: 'FIRING' }, 'status'],
    ['truncatedAlerts as a fraction', { ...alertPayload([]), truncatedAlerts: 1.5 }, 'truncatedAlerts'],
    ['groupLabels with a nested object', { ...alertPayload([]), groupLabels: { a: {} } }, 'groupLabels'],
  ])('should refuse a payload with %s, naming the field', (_name, body, field) => {
    // Act
    const details = invalidDetails(body);

    // Assess
    expect(details.length).toBeGreaterThan(0);
    expect(details.join('\n')).toContain(field);
  });

  it('should take exactly MAX_ALERTS alerts', () => {
    // Prepare
    const alerts = Array.from({ length: MAX_ALERTS }, (_, i) =>
      alert({ labels: { ...alert().labels, node: `w-${i}` } }),
    );

    // Act
    const payload = payloadOf(alerts);

    // Assess
    expect(alertTargets(payload, DEFAULTS).targets).toHaveLength(MAX_ALERTS);
  });

  it('should refuse a payload with more than MAX_ALERTS alerts', () => {
    // Prepare
    const alerts = Array.from({ length: MAX_ALERTS + 1 }, () => alert());

    // Act
    const details = invalidDetails({ ...alertPayload([]), alerts });

    // Assess
    expect(details.join('\n')).toContain('alerts');
  });

  it('should keep at most ten issues in the details of a very wrong payload', () => {
    // Prepare
    const body = {
      version: 5,
      status: 1,
      receiver: 2,
      groupKey: 3,
      truncatedAlerts: 'x',
      groupLabels: 1,
      commonLabels: 2,
      commonAnnotations: 3,
      externalURL: 4,
      alerts: 5,
      more: 6,
    };

    // Act
    const details = invalidDetails(body);

    // Assess
    expect(details.length).toBeLessThanOrEqual(10);
    expect(details.length).toBeGreaterThan(1);
  });
});

describe('alertTargets', () => {
  it('should turn firing alerts into one fence request each, with the alert as trigger', () => {
    // Prepare
    const payload = payloadOf([alert({ fingerprint: 'abc' })]);

    // Act
    const { targets } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets).toEqual([
      {
        node: 'worker-1',
        trigger: {
          kind: 'alert',
          alertname: 'KubeNodeNotReady',
          fingerprint: 'abc',
          reason: 'KubeNodeNotReady firing since 2026-11-22T09:55:52.92Z',
          force: false,
        },
      },
    ]);
  });

  it.each([
    ['only the first label', { node: 'worker-1' }, 'worker-1'],
    ['only the fallback label', { kubernetes_node: 'worker-2' }, 'worker-2'],
    ['both labels, the first winning', { node: 'worker-1', kubernetes_node: 'worker-2' }, 'worker-1'],
    ['an empty first label', { node: '', kubernetes_node: 'worker-2' }, 'worker-2'],
  ])('should find the node from %s', (_name, nodeLabels, expected) => {
    // Prepare
    const { node: _node, ...rest } = alert().labels;
    const payload = payloadOf([alert({ labels: { ...rest, ...nodeLabels } })]);

    // Act
    const { targets, verdicts } = alertTargets(payload, {
      ...DEFAULTS,
      nodeLabels: ['node', 'kubernetes_node'],
    });

    // Assess
    expect(targets.map((target) => target.node)).toEqual([expected]);
    expect(verdicts).toEqual([]);
  });

  it('should refuse an alert that has none of the node labels, naming the labels it looked for', () => {
    // Prepare
    const { node: _node, ...rest } = alert().labels;
    const payload = payloadOf([alert({ labels: { ...rest, instance: 'worker-1:9100' } })]);

    // Act
    const { targets, verdicts } = alertTargets(payload, {
      ...DEFAULTS,
      nodeLabels: ['node', 'kubernetes_node'],
    });

    // Assess
    expect(targets).toEqual([]);
    expect(verdicts).toEqual([
      {
        node: 'alerts[0]',
        outcome: 'refused',
        reason: 'InvalidAlert',
        message: expect.stringMatching(/node, kubernetes_node/),
      },
    ]);
  });

  it.each([
    ['uppercase', 'Worker-1'],
    ['an underscore', 'worker_1'],
    ['a path traversal', '../worker-1'],
    ['a slash', 'a/b'],
    ['254 characters', 'a'.repeat(254)],
    ['a control character', 'worker-1\u0000'],
    ['a newline', 'worker-1\nworker-2'],
    ['a look-alike letter', 'wоrker-1'],
  ])('should refuse an alert whose node label has %s', (_name, node) => {
    // Prepare
    const payload = payloadOf([alert({ labels: { ...alert().labels, node } })]);

    // Act
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets).toEqual([]);
    expect(verdicts).toEqual([
      expect.objectContaining({ node: 'alerts[0]', outcome: 'refused', reason: 'InvalidAlert' }),
    ]);
  });

  it.each([
    ['a string', 'worker-1'],
    ['null', null],
    ['labels missing', { status: 'firing' }],
    ['a label that is a number', { status: 'firing', labels: { node: 1 } }],
    ['a status that is neither firing nor resolved', { status: 'pending', labels: { node: 'worker-1' } }],
  ])('should refuse a malformed alert (%s) on its own', (_name, raw) => {
    // Prepare
    const payload = payloadOf([raw, alert({ labels: { ...alert().labels, node: 'worker-2' } })]);

    // Act
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets.map((target) => target.node)).toEqual(['worker-2']);
    expect(verdicts).toEqual([
      expect.objectContaining({
        node: 'alerts[0]',
        outcome: 'refused',
        reason: 'InvalidAlert',
        message: expect.stringContaining('malformed alert'),
      }),
    ]);
  });

  it('should give each refused alert its own verdict', () => {
    // Prepare
    const { node: _node, ...rest } = alert().labels;
    const payload = payloadOf([alert({ labels: rest }), alert({ labels: rest }), 'junk']);

    // Act
    const { verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(verdicts.map((verdict) => verdict.node)).toEqual(['alerts[0]', 'alerts[1]', 'alerts[2]']);
  });

  it('should skip an alert whose name is not in the alert-name filter', () => {
    // Prepare
    const payload = payloadOf([
      alert({ labels: { ...alert().labels, alertname: 'NodeFilesystemAlmostOutOfSpace' } }),
    ]);

    // Act
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets).toEqual([]);
    expect(verdicts).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'skipped', reason: 'NotAFenceAlert' }),
    ]);
  });

  it('should take any alert that names a node when the alert-name filter is empty', () => {
    // Prepare
    const payload = payloadOf([alert({ labels: { ...alert().labels, alertname: 'Anything' } })]);

    // Act
    const { targets } = alertTargets(payload, { ...DEFAULTS, alertNames: [] });

    // Assess
    expect(targets.map((target) => target.node)).toEqual(['worker-1']);
  });

  it('should take an alert named in a custom filter', () => {
    // Prepare
    const payload = payloadOf([
      alert({ labels: { ...alert().labels, alertname: 'MyNodeDown' } }),
      alert({ labels: { ...alert().labels, alertname: 'KubeNodeNotReady', node: 'worker-2' } }),
    ]);

    // Act
    const { targets, verdicts } = alertTargets(payload, { ...DEFAULTS, alertNames: ['MyNodeDown'] });

    // Assess
    expect(targets.map((target) => target.node)).toEqual(['worker-1']);
    expect(verdicts).toEqual([expect.objectContaining({ node: 'worker-2', reason: 'NotAFenceAlert' })]);
  });

  it('should skip a resolved alert and never turn it into a fence request', () => {
    // Prepare
    const payload = parsePayload(alertPayload([{ node: 'worker-1', status: 'resolved' }]));

    // Act
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets).toEqual([]);
    expect(verdicts).toEqual([
      expect.objectContaining({ node: 'worker-1', outcome: 'skipped', reason: 'AlertResolved' }),
    ]);
  });

  it.each([
    ['resolved first', ['resolved', 'firing'] as const],
    ['firing first', ['firing', 'resolved'] as const],
  ])('should let firing win over resolved for the same node (%s)', (_name, statuses) => {
    // Prepare
    const payload = parsePayload(alertPayload(statuses.map((status) => ({ node: 'worker-1', status }))));

    // Act
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets.map((target) => target.node)).toEqual(['worker-1']);
    expect(verdicts).toEqual([]);
  });

  it('should let a fence alert win over another alert for the same node', () => {
    // Prepare
    const payload = parsePayload(
      alertPayload([
        { node: 'worker-1', alertname: 'Watchdog' },
        { node: 'worker-1' },
        { node: 'worker-1', alertname: 'Watchdog' },
      ]),
    );

    // Act
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets.map((target) => target.node)).toEqual(['worker-1']);
    expect(verdicts).toEqual([]);
  });

  it('should de-duplicate a node and keep the first firing alert as its trigger', () => {
    // Prepare
    const payload = parsePayload(
      alertPayload([
        { node: 'worker-1', alertname: 'KubeNodeUnreachable' },
        { node: 'worker-2' },
        { node: 'worker-1' },
      ]),
    );

    // Act
    const { targets } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets.map((target) => [target.node, target.trigger.alertname])).toEqual([
      ['worker-1', 'KubeNodeUnreachable'],
      ['worker-2', 'KubeNodeNotReady'],
    ]);
  });

  it('should answer each node once when a group of many alerts names it many times', () => {
    // Prepare
    const nodes = Array.from({ length: 300 }, (_, i) => ({ node: `worker-${i % 100}` }));
    const payload = parsePayload(alertPayload(nodes));

    // Act
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets).toHaveLength(100);
    expect(new Set(targets.map((target) => target.node)).size).toBe(100);
    expect(verdicts).toEqual([]);
  });

  it.each([
    ['__proto__ with an object value', '{"alertname":"KubeNodeNotReady","__proto__":{"node":"worker-1"}}'],
    ['__proto__ with a string value', '{"alertname":"KubeNodeNotReady","__proto__":"worker-1"}'],
    ['constructor', '{"alertname":"KubeNodeNotReady","constructor":"worker-1"}'],
  ])('should not find a node through a %s label', (_name, labels) => {
    // Prepare
    const raw = JSON.parse(`{"status":"firing","labels":${labels}}`) as unknown;
    const payload = payloadOf([raw]);

    // Act
    const { targets, verdicts } = alertTargets(payload, DEFAULTS);

    // Assess
    expect(targets).toEqual([]);
    expect(verdicts).toEqual([expect.objectContaining({ outcome: 'refused' })]);
    expect(({} as Record<string, unknown>).node).toBeUndefined();
  });
});
