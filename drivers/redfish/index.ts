/**
 * The Redfish power driver for bare metal: DMTF Redfish over HTTPS to each machine's BMC.
 *
 * @example
 * import { createRedfishDriver, loadRedfishConfig } from './drivers/redfish/index.js';
 * const driver = createRedfishDriver({ ...loadRedfishConfig(), log });
 */
import { RedfishDriver, type RedfishDriverOptions } from './redfish-driver.js';

export { type BmcSettings, SYSTEMS_PATH } from './bmc-pool.js';
export {
  type AuthMode,
  BmcClient,
  type CredentialSource,
  type Credentials,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type RedfishExchange,
  SESSIONS_PATH,
} from './client/bmc-client.js';
export { RedfishError, redfishMessage } from './client/errors.js';
export type { ComputerSystem, ResetAction } from './client/resources.js';
export {
  httpsWire,
  type TlsEndpoint,
  type WireRequest,
  type WireResponse,
  type WireSend,
} from './client/transport.js';
export {
  credentialFiles,
  type LoadRedfishConfigOptions,
  loadRedfishConfig,
  REDFISH_ENV,
  type RedfishConfig,
  RedfishConfigError,
} from './config.js';
export {
  BARE_METAL_SCHEMES,
  DEFAULT_NODE_KEY_PREFIX,
  type MappingEntry,
  pickTarget,
  type SystemTarget,
} from './mapping.js';
export {
  type DriverLog,
  REDFISH_DRIVER_NAME,
  REDFISH_POLL_SCHEDULE,
  RedfishDriver,
  type RedfishDriverOptions,
  toDriverError,
} from './redfish-driver.js';

/**
 * Builds the Redfish driver. Nothing is sent until the first call; `preflight` proves each BMC, its account
 * and its systems' reset action.
 *
 * @example
 * const driver = createRedfishDriver({
 *   bmcs: [{ name: 'rack1-node1', address: 'https://10.0.1.11', credentials, ca }],
 *   nodes: [{ node: 'worker-1', bmc: 'rack1-node1', system: 'System.Embedded.1' }],
 * });
 */
export function createRedfishDriver(options: RedfishDriverOptions): RedfishDriver {
  return new RedfishDriver(options);
}
