/**
 * The openstack section: the variables every OpenStack tool reads (`OS_CLOUD` with a `clouds.yaml`, or the
 * `OS_*` of an openrc file). `drivers/openstack/config.ts` reads the files they name and checks the whole.
 */
import * as z from 'zod';
import { bool } from './fields.js';

/** The openrc variables by the `clouds.yaml` key they stand for; the first one set wins. */
export const OPENRC_VARIABLES = {
  auth_type: ['OS_AUTH_TYPE'],
  auth_url: ['OS_AUTH_URL'],
  username: ['OS_USERNAME'],
  user_id: ['OS_USER_ID'],
  user_domain_name: ['OS_USER_DOMAIN_NAME'],
  user_domain_id: ['OS_USER_DOMAIN_ID'],
  project_name: ['OS_PROJECT_NAME', 'OS_TENANT_NAME'],
  project_id: ['OS_PROJECT_ID', 'OS_TENANT_ID'],
  project_domain_name: ['OS_PROJECT_DOMAIN_NAME'],
  project_domain_id: ['OS_PROJECT_DOMAIN_ID'],
  domain_name: ['OS_DOMAIN_NAME'],
  domain_id: ['OS_DOMAIN_ID'],
  application_credential_id: ['OS_APPLICATION_CREDENTIAL_ID'],
  application_credential_name: ['OS_APPLICATION_CREDENTIAL_NAME'],
  region_name: ['OS_REGION_NAME'],
  interface: ['OS_INTERFACE', 'OS_ENDPOINT_TYPE'],
  identity_api_version: ['OS_IDENTITY_API_VERSION'],
  cacert: ['OS_CACERT'],
} as const;
export type OpenRcKey = keyof typeof OPENRC_VARIABLES;

/** A secret given inline (`OS_PASSWORD`) or as a file to read (`OS_PASSWORD_FILE`), never both. */
export type SecretSource = { value: string } | { file: string };

export interface OpenStackSettings {
  /** `OS_CLOUD`: the `clouds.yaml` entry; unset, the openrc variables. */
  cloud: string | undefined;
  /** `OS_CLIENT_CONFIG_FILE`, searched before openstacksdk's places. */
  cloudsFile: string | undefined;
  /** `OS_CLIENT_SECURE_FILE`, likewise for `secure.yaml`. */
  secureFile: string | undefined;
  /** The openrc variables that are set, by their `clouds.yaml` key. */
  openrc: Partial<Record<OpenRcKey, string>>;
  password: SecretSource | undefined;
  applicationCredentialSecret: SecretSource | undefined;
  /** `OS_INSECURE`: asks to skip TLS verification (refused by the driver: give the CA instead). */
  insecure: boolean;
  /** `NODE_EXTRA_CA_CERTS`: the only extra CAs Node's fetch trusts, read once at process start. */
  extraCaCerts: string | undefined;
  /** `ALERTFENCE_OPENSTACK_LOOKUP`: nodes without a providerID are looked up by name and InternalIP. */
  lookup: boolean;
}

const openrcShape = Object.fromEntries(
  Object.values(OPENRC_VARIABLES)
    .flat()
    .map((name) => [name, z.string().optional()]),
) as Record<string, z.ZodOptional<z.ZodString>>;

const SECRETS = ['OS_PASSWORD', 'OS_APPLICATION_CREDENTIAL_SECRET'] as const;

export const openStackSection = z
  .object({
    ...openrcShape,
    OS_CLOUD: z.string().optional(),
    OS_CLIENT_CONFIG_FILE: z.string().optional(),
    OS_CLIENT_SECURE_FILE: z.string().optional(),
    OS_PASSWORD: z.string().optional(),
    OS_PASSWORD_FILE: z.string().optional(),
    OS_APPLICATION_CREDENTIAL_SECRET: z.string().optional(),
    OS_APPLICATION_CREDENTIAL_SECRET_FILE: z.string().optional(),
    OS_INSECURE: bool('OS_INSECURE').default(false),
    NODE_EXTRA_CA_CERTS: z.string().optional(),
    ALERTFENCE_OPENSTACK_LOOKUP: bool('ALERTFENCE_OPENSTACK_LOOKUP').default(false),
  })
  .transform((c, ctx): OpenStackSettings => {
    const vars = c as unknown as Record<string, string | undefined>;
    const openrc: Partial<Record<OpenRcKey, string>> = {};
    for (const [key, names] of Object.entries(OPENRC_VARIABLES) as [OpenRcKey, readonly string[]][]) {
      const name = names.find((candidate) => vars[candidate] !== undefined);
      if (name !== undefined) openrc[key] = vars[name];
    }
    const [password, applicationCredentialSecret] = SECRETS.map((name): SecretSource | undefined => {
      const value = vars[name];
      const file = vars[`${name}_FILE`];
      if (value !== undefined && file !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `both ${name} and ${name}_FILE are set; keep one`,
        });
      }
      if (file !== undefined) return { file };
      return value === undefined ? undefined : { value };
    });
    return {
      cloud: c.OS_CLOUD,
      cloudsFile: c.OS_CLIENT_CONFIG_FILE,
      secureFile: c.OS_CLIENT_SECURE_FILE,
      openrc,
      password,
      applicationCredentialSecret,
      insecure: c.OS_INSECURE,
      extraCaCerts: c.NODE_EXTRA_CA_CERTS,
      lookup: c.ALERTFENCE_OPENSTACK_LOOKUP,
    };
  });
