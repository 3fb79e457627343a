/** Keystone v3 token requests: the two authentication methods alertfence supports. */

import type { HttpClient, RequestOptions } from '../http.js';
import { readJson } from '../http.js';
import { type IssuedToken, parseTokenBody } from './results.js';
import { tokensUrl } from './urls.js';

/** A domain by id or by name; Keystone needs one of them to place a user or project named by name. */
export type DomainRef = { id: string } | { name: string };

/**
 * The `password` method with a project scope: the classic user + domain + project triple of an
 * `openrc` file or a `clouds.yaml` entry.
 */
export interface PasswordCredentials {
  method: 'password';
  user: { id: string } | { name: string; domain: DomainRef };
  password: string;
  project: { id: string } | { name: string; domain: DomainRef };
}

/**
 * The `application_credential` method: the credential is bound to one user and one project, and Keystone
 * refuses a scope in the request (the token is always scoped to the credential's project).
 */
export interface ApplicationCredentialCredentials {
  method: 'application_credential';
  /** By id, or by name together with the owning user (a name is unique per user only). */
  credential: { id: string } | { name: string; user: { id: string } | { name: string; domain: DomainRef } };
  secret: string;
}

/** The credentials alertfence can authenticate with. */
export type KeystoneCredentials = PasswordCredentials | ApplicationCredentialCredentials;

/** The JSON body of `POST /v3/auth/tokens` for `credentials` (Keystone API reference, "Authentication"). */
export function authRequestBody(credentials: KeystoneCredentials): unknown {
  if (credentials.method === 'password') {
    return {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { ...userRef(credentials.user), password: credentials.password } },
        },
        scope: { project: projectRef(credentials.project) },
      },
    };
  }
  const ref = credentials.credential;
  const credential = 'id' in ref ? { id: ref.id } : { name: ref.name, user: userRef(ref.user) };
  return {
    auth: {
      identity: {
        methods: ['application_credential'],
        application_credential: { ...credential, secret: credentials.secret },
      },
    },
  };
}

/**
 * Issues a token. Keystone answers 201 with the token in `X-Subject-Token` and the catalog in the body.
 * A POST, but safe to repeat after a transient failure: a token that was issued and never received is
 * simply never used.
 */
export async function issueToken(
  http: HttpClient,
  authUrl: string,
  credentials: KeystoneCredentials,
  options: RequestOptions,
): Promise<IssuedToken> {
  const response = await http.request(
    { method: 'POST', url: tokensUrl(authUrl), json: authRequestBody(credentials), idempotent: true },
    options,
  );
  const id = response.headers.get('x-subject-token');
  return readJson(response, (value) => {
    if (!id) throw new Error('no X-Subject-Token header');
    return { id, ...parseTokenBody(value) };
  });
}

function userRef(user: PasswordCredentials['user']): Record<string, unknown> {
  return 'id' in user ? { id: user.id } : { name: user.name, domain: user.domain };
}

function projectRef(project: PasswordCredentials['project']): Record<string, unknown> {
  return 'id' in project ? { id: project.id } : { name: project.name, domain: project.domain };
}
