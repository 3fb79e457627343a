/**
 * The OpenStack of the integration tests: the Keystone admin calls they need beyond the peer harness
 * (restricted application credentials, token revocation), for the real cloud of test/peers/openstack.ts,
 * and the contract-fake cloud (real Keystone, the Nova/Cinder fake in its catalog) for what the real
 * services cannot be made to do.
 */

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { HttpExchange } from '../../../drivers/openstack/index.js';
import { type NovaCinderFake, type NovaCinderOptions, startNovaCinder } from '../../fakes/nova-cinder.js';
import { type KeystoneServer, startKeystone } from '../../peers/keystone.js';

export interface AccessRule {
  service: string;
  method: string;
  path: string;
}

/** Keystone calls of the tests, on top of the peer harness. */
export interface IdentityHelpers {
  /** An application credential of the admin, optionally restricted by access rules and roles. */
  createApplicationCredential(options?: {
    accessRules?: readonly AccessRule[];
    roles?: readonly string[];
  }): Promise<{ id: string; name: string; secret: string }>;
  /** Revokes a token at Keystone (`DELETE /v3/auth/tokens`), as an operator or an expiry would. */
  revokeToken(token: string): Promise<void>;
}

export interface TestCloud extends IdentityHelpers {
  keystone: KeystoneServer;
  cloud: NovaCinderFake;
  /** The admin project: the project of every credential the tests create. */
  projectId: string;
  userId: string;
  stop(): Promise<void>;
}

/** The Keystone calls of {@link IdentityHelpers} against `keystone`, as its bootstrap admin. */
export function identityHelpers(keystone: KeystoneServer): IdentityHelpers {
  let counter = 0;
  return {
    async createApplicationCredential(options = {}) {
      const { token, userId } = await keystone.issueToken();
      counter++;
      const name = `alertfence-${counter}-${Date.now()}`;
      const body: Record<string, unknown> = { name, description: 'alertfence integration test' };
      if (options.accessRules) body.access_rules = options.accessRules;
      if (options.roles) body.roles = options.roles.map((role) => ({ name: role }));
      const response = await fetch(`${keystone.authUrl}/v3/users/${userId}/application_credentials`, {
        method: 'POST',
        headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
        body: JSON.stringify({ application_credential: body }),
      });
      const text = await response.text();
      if (response.status !== 201) {
        throw new Error(`Keystone refused the application credential (${response.status}): ${text}`);
      }
      const created = JSON.parse(text) as { application_credential: { id: string; secret: string } };
      return { id: created.application_credential.id, name, secret: created.application_credential.secret };
    },
    async revokeToken(subject) {
      const { token } = await keystone.issueToken();
      const response = await fetch(`${keystone.authUrl}/v3/auth/tokens`, {
        method: 'DELETE',
        headers: { 'X-Auth-Token': token, 'X-Subject-Token': subject },
      });
      if (response.status !== 204) throw new Error(`Keystone did not revoke the token: ${response.status}`);
    },
  };
}

/**
 * Starts Keystone and the Nova/Cinder contract fake and wires the catalog. Throws (so the tests fail) when
 * Keystone is not installed.
 */
export async function startTestCloud(fake: Omit<NovaCinderOptions, 'keystone'> = {}): Promise<TestCloud> {
  const keystone = await startKeystone();
  let cloud: NovaCinderFake | undefined;
  try {
    const admin = await keystone.issueToken();
    cloud = await startNovaCinder({
      ...fake,
      keystone: { authUrl: keystone.authUrl, serviceToken: async () => (await keystone.issueToken()).token },
    });
    await keystone.registerService('compute', cloud.computeUrl, { name: 'nova' });
    await keystone.registerService('volumev3', cloud.volumeUrlTemplate, { name: 'cinderv3' });
    const started = cloud;
    return {
      ...identityHelpers(keystone),
      keystone,
      cloud: started,
      projectId: admin.projectId,
      userId: admin.userId,
      async stop() {
        await started.stop();
        await keystone.stop();
      },
    };
  } catch (error) {
    await cloud?.stop();
    await keystone.stop();
    throw error;
  }
}

/** The access rules documented in infra/openstack/README.md, read from its `access-rules.json` block. */
export async function documentedAccessRules(): Promise<AccessRule[]> {
  const path = fileURLToPath(new URL('../../../infra/openstack/README.md', import.meta.url));
  const text = await readFile(path, 'utf8');
  const match = /```json access-rules\.json\n([\s\S]*?)```/.exec(text);
  if (!match?.[1]) throw new Error(`${path} has no \`\`\`json access-rules.json block`);
  return JSON.parse(match[1]) as AccessRule[];
}

/** Collects a driver's HTTP exchanges, split by service. */
export class ExchangeLog {
  readonly exchanges: HttpExchange[] = [];
  readonly record = (exchange: HttpExchange): void => {
    this.exchanges.push(exchange);
  };

  get keystone(): HttpExchange[] {
    return this.exchanges.filter((e) => e.url.includes('/v3/auth/tokens'));
  }

  mark(): number {
    return this.exchanges.length;
  }

  since(mark: number): HttpExchange[] {
    return this.exchanges.slice(mark);
  }
}
