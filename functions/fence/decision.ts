/** What a guard answers about a node, and the settings the guards read. */
import type { Config } from '../config.js';
import type { Outcome, Reason } from './vocabulary.js';

export interface Decision {
  outcome: Outcome;
  reason: Reason;
  message: string;
}

/** A refusal of a resume; `abort` when the fence must end here (before power-off, nothing to undo but a taint). */
export interface ResumeRefusal extends Decision {
  abort: boolean;
}

/** The settings the guards read. */
export type GuardConfig = Pick<
  Config,
  | 'nodeSelector'
  | 'excludeLabel'
  | 'allowControlPlane'
  | 'unhealthyForMs'
  | 'maxUnhealthy'
  | 'maxUnhealthyPerZone'
  | 'cooldownMs'
  | 'maxFencesPerNode'
  | 'fenceWindowMs'
>;

export const refuse = (reason: Reason, message: string): Decision => ({
  outcome: 'refused',
  reason,
  message,
});
export const skip = (reason: Reason, message: string): Decision => ({ outcome: 'skipped', reason, message });
