/**
 * The OpenStack power driver and its small typed client.
 *
 * @example
 * import { createOpenStackDriver, loadOpenStackConfig } from './drivers/openstack/index.js';
 * const driver = createOpenStackDriver({ ...loadOpenStackConfig(), interface: 'internal' });
 */

import { OpenStackDriver, type OpenStackDriverOptions } from './openstack-driver.js';

export type { Volume } from './client/cinder.js';
export { OpenStackError } from './client/errors.js';
export type { HttpExchange, HttpRetryPolicy } from './client/http.js';
export {
  type ApplicationCredentialCredentials,
  type DomainRef,
  type EndpointInterface,
  EndpointNotFoundError,
  type KeystoneCredentials,
  type PasswordCredentials,
} from './client/keystone.js';
export type { Server, VolumeAttachment } from './client/nova.js';
export {
  type LoadOpenStackConfigOptions,
  loadOpenStackConfig,
  type OpenStackConfig,
  OpenStackConfigError,
} from './config.js';
export {
  BLOCK_STORAGE_SERVICE_TYPES,
  COMPUTE_SERVICE_TYPES,
  OpenStackDriver,
  type OpenStackDriverOptions,
} from './openstack-driver.js';
export { parseOpenStackProviderID } from './provider-id.js';

/**
 * Builds the OpenStack driver. Nothing is sent until the first call; `preflight` proves the credentials
 * and the catalog.
 *
 * @example
 * const driver = createOpenStackDriver({
 *   authUrl: 'https://keystone.example.com:5000/v3',
 *   credentials: { method: 'application_credential', credential: { id: 'a1b2…' }, secret },
 *   region: 'RegionOne',
 * });
 */
export function createOpenStackDriver(options: OpenStackDriverOptions): OpenStackDriver {
  return new OpenStackDriver(options);
}
