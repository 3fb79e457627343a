/**
 * The few Redfish resources the driver reads, typed and checked: a ComputerSystem (its `PowerState` and its
 * `#ComputerSystem.Reset` action), a collection's members, and an ActionInfo's allowed reset types
 * (DMTF DSP0268 schema guide: ComputerSystem v1, Resource collections, ActionInfo v1).
 */

import { parseJsonBody } from '../../http-client.js';
import type { RedfishResponse } from './bmc-client.js';
import { RedfishError } from './errors.js';

/** The `#ComputerSystem.Reset` action of a system. */
export interface ResetAction {
  /** The URI to POST `{"ResetType": …}` to. */
  target: string;
  /** `ResetType@Redfish.AllowableValues`, when the BMC lists them inline. */
  allowableValues?: string[];
  /** `@Redfish.ActionInfo`: where a BMC lists the parameters instead (DSP0266 §7.6 "Action info"). */
  actionInfo?: string;
}

/** A ComputerSystem, reduced to what fencing reads. */
export interface ComputerSystem {
  /** `Id`: the last segment of its URI. */
  id: string;
  /** `@odata.id`. */
  uri: string;
  name?: string;
  /** `PowerState` as the BMC said it (`On`, `Off`, `PoweringOn`, `PoweringOff`, `Paused`); absent when unsaid. */
  powerState?: string;
  reset?: ResetAction;
}

/** Checks and reduces a ComputerSystem body; throws on anything that is not one. */
export function parseComputerSystem(value: unknown): ComputerSystem {
  const body = record(value, 'the body');
  const id = text(body.Id, 'Id');
  const uri = text(body['@odata.id'], '@odata.id');
  const system: ComputerSystem = { id, uri };
  if (typeof body.Name === 'string') system.name = body.Name;
  // `PowerState` may be null when the BMC cannot tell (DSP0268: the property is nullable).
  if (typeof body.PowerState === 'string') system.powerState = body.PowerState;
  const actions = body.Actions;
  if (isRecord(actions) && isRecord(actions['#ComputerSystem.Reset'])) {
    const action = actions['#ComputerSystem.Reset'];
    const target = text(action.target, 'Actions.#ComputerSystem.Reset.target');
    const reset: ResetAction = { target };
    const allowed = action['ResetType@Redfish.AllowableValues'];
    if (Array.isArray(allowed))
      reset.allowableValues = allowed.filter((v): v is string => typeof v === 'string');
    if (typeof action['@Redfish.ActionInfo'] === 'string') reset.actionInfo = action['@Redfish.ActionInfo'];
    system.reset = reset;
  }
  return system;
}

/** The `@odata.id` of each member of a resource collection. */
export function parseCollection(value: unknown): string[] {
  const body = record(value, 'the body');
  const members = body.Members;
  if (!Array.isArray(members)) throw new Error('Members is not an array');
  return members.map((member, index) => text(record(member, `Members[${index}]`)['@odata.id'], '@odata.id'));
}

/** The allowed values of the `ResetType` parameter in an ActionInfo; undefined when it does not list them. */
export function parseResetActionInfo(value: unknown): string[] | undefined {
  const body = record(value, 'the body');
  if (!Array.isArray(body.Parameters)) return undefined;
  for (const parameter of body.Parameters) {
    if (!isRecord(parameter) || parameter.Name !== 'ResetType') continue;
    const allowed = parameter.AllowableValues;
    return Array.isArray(allowed) ? allowed.filter((v): v is string => typeof v === 'string') : undefined;
  }
  return undefined;
}

/**
 * Parses a 2xx JSON body with `parse` (a schema check that throws on a mismatch), turning any failure into a
 * `RedfishError` that names the call.
 */
export function readJson<T>(
  bmc: string,
  response: RedfishResponse,
  method: string,
  parse: (value: unknown) => T,
): T {
  return parseJsonBody(
    response.text,
    parse,
    (message, cause) =>
      new RedfishError({
        bmc,
        method,
        path: response.path,
        status: response.status,
        body: response.text,
        reason: `the answer is not a Redfish resource (${message})`,
        cause,
      }),
  );
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) throw new Error(`${what} is not a JSON object`);
  return value;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`${what} is missing`);
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
