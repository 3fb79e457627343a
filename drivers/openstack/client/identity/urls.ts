/** URLs of the Keystone v3 API the client uses. */

/**
 * The Keystone v3 base from a configured `auth_url`, which operators write either with or without the
 * version (`https://keystone:5000` or `https://keystone:5000/v3`, sometimes under a path such as
 * `/identity`).
 */
export function identityV3Base(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

/** `POST` issues a token, `GET`/`HEAD` validates one, `DELETE` revokes one. */
export function tokensUrl(authUrl: string): string {
  return `${identityV3Base(authUrl)}/auth/tokens`;
}
