/**
 * The BMCs a Redfish driver talks to, each with its own client and TLS trust, and the reads it makes of them:
 * a system (404 is `missing`, never off), the systems of a BMC, and the reset types a system allows.
 */

import { type CallOptions, InstanceNotFoundError, type InstanceRef } from '../driver.js';
import type { HttpClientTuning } from '../http-client.js';
import {
  type AuthMode,
  BmcClient,
  type CredentialSource,
  type RedfishExchange,
} from './client/bmc-client.js';
import { RedfishError } from './client/errors.js';
import {
  parseCollection,
  parseComputerSystem,
  parseResetActionInfo,
  type ResetAction,
  readJson,
} from './client/resources.js';
import { httpsWire, type WireSend } from './client/transport.js';
import type { SystemReading } from './power-state.js';

/** The systems collection's URI is fixed by DSP0266 §6.2 ("Resource URIs"), and so are its members'. */
export const SYSTEMS_PATH = '/redfish/v1/Systems';

/** One BMC: where it is, whom to trust there, and the account to use. */
export interface BmcSettings {
  /** The name nodes and the mapping use for it: letters, digits, `-`, `_`, `.` (a label value). */
  name: string;
  /** `https://host[:port]`. */
  address: string;
  credentials: CredentialSource;
  /** Default `basic`. */
  auth?: AuthMode;
  /** PEM certificates trusted for this BMC instead of the system's. */
  ca?: string;
  /** The name its certificate carries, when the address does not (an IP address, say). */
  tlsServerName?: string;
  /** Accept any certificate: explicit opt-in only, logged at start and at every power action. */
  insecure?: boolean;
}

/** One configured BMC and its client. */
export interface Bmc {
  settings: BmcSettings;
  client: BmcClient;
  close: () => void;
}

/** How the pool reaches its BMCs: the wire (HTTPS by default) and the clients' tuning. */
export interface BmcPoolOptions extends HttpClientTuning<RedfishExchange> {
  /** The wire to each BMC; default HTTPS with its TLS settings. Tests inject an in-process one. */
  wire?: (bmc: BmcSettings) => WireSend;
}

/** The configured BMCs by name; an instance ref's id is `<bmc>/<system id>`. */
export class BmcPool {
  readonly #bmcs = new Map<string, Bmc>();

  constructor(bmcs: readonly BmcSettings[], options: BmcPoolOptions) {
    for (const settings of bmcs) {
      const wire = options.wire
        ? { send: options.wire(settings), close: () => {} }
        : httpsWire({
            address: settings.address,
            ca: settings.ca,
            serverName: settings.tlsServerName,
            insecure: settings.insecure,
          });
      const client = new BmcClient({
        ...options,
        name: settings.name,
        send: wire.send,
        origin: settings.address,
        credentials: settings.credentials,
        auth: settings.auth ?? 'basic',
      });
      this.#bmcs.set(settings.name, { settings, client, close: wire.close });
    }
  }

  /** Every BMC, in configuration order. */
  all(): Bmc[] {
    return [...this.#bmcs.values()];
  }

  /** The BMC called `name`; a name that is not configured is a refusal of what asked for it. */
  get(name: string, forWhat: string): Bmc {
    const bmc = this.#bmcs.get(name);
    if (!bmc) {
      throw new InstanceNotFoundError(
        `${forWhat} names BMC ${name}, which is not configured (configured: ${[...this.#bmcs.keys()].join(', ') || 'none'})`,
      );
    }
    return bmc;
  }

  /** The BMC and system of an instance ref of provider `provider`. */
  target(ref: InstanceRef, provider: string): { bmc: Bmc; systemId: string } {
    const slash = ref.id.indexOf('/');
    if (ref.provider !== provider || slash <= 0 || slash === ref.id.length - 1) {
      throw new InstanceNotFoundError(
        `${ref.provider}:${ref.id} is not a Redfish system (<bmc>/<system id>)`,
      );
    }
    return { bmc: this.get(ref.id.slice(0, slash), `instance ${ref.id}`), systemId: ref.id.slice(slash + 1) };
  }

  /** Reads a system; 404 is `missing`, never off. */
  async read(bmc: Bmc, systemId: string, options: CallOptions): Promise<SystemReading> {
    try {
      const response = await bmc.client.get(`${SYSTEMS_PATH}/${encodeURIComponent(systemId)}`, options);
      const system = readJson(bmc.settings.name, response, 'GET', parseComputerSystem);
      // The system must be the one asked for (or the one a redirect of the BMC named): never act on another.
      const answered = decodeURIComponent(response.path.split('/').pop() ?? '');
      if (system.id !== answered) {
        throw new RedfishError({
          bmc: bmc.settings.name,
          method: 'GET',
          path: response.path,
          status: response.status,
          reason: `asked for system ${answered}, the BMC answered with system ${system.id}`,
        });
      }
      return system;
    } catch (error) {
      if (error instanceof RedfishError && error.status === 404) return { missing: true };
      throw error;
    }
  }

  /** The ids of a BMC's systems. */
  async members(bmc: Bmc, options: CallOptions): Promise<string[]> {
    const response = await bmc.client.get(SYSTEMS_PATH, options);
    const uris = readJson(bmc.settings.name, response, 'GET', parseCollection);
    return uris.map((uri) => decodeURIComponent(uri.replace(/\/+$/, '').split('/').pop() ?? ''));
  }

  /** The BMC's only system; none or several is a refusal, never a guess. */
  async onlySystem(bmc: Bmc, node: string, options: CallOptions): Promise<string> {
    const members = await this.members(bmc, options);
    const [only] = members;
    if (members.length === 1 && only !== undefined) return only;
    throw new InstanceNotFoundError(
      members.length === 0
        ? `BMC ${bmc.settings.name} of node ${node} lists no systems for this account`
        : `BMC ${bmc.settings.name} of node ${node} has ${members.length} systems (${members.join(', ')}); name the node's system (its label or annotation, or system: in the mapping)`,
    );
  }

  /** The allowed reset types: inline, or from the action's ActionInfo; undefined when the BMC does not say. */
  async allowedResetTypes(
    bmc: Bmc,
    action: ResetAction,
    options: CallOptions,
  ): Promise<readonly string[] | undefined> {
    if (action.allowableValues !== undefined || action.actionInfo === undefined)
      return action.allowableValues;
    const response = await bmc.client.get(action.actionInfo, options);
    const allowed = readJson(bmc.settings.name, response, 'GET', parseResetActionInfo);
    // Remembered with the action: it is the same for as long as the action is.
    if (allowed !== undefined) action.allowableValues = allowed;
    return allowed;
  }

  /** Logs out of every session and closes the connections. */
  async close(options: CallOptions): Promise<void> {
    await Promise.all(this.all().map((bmc) => bmc.client.logout(options)));
    for (const bmc of this.all()) bmc.close();
  }
}
